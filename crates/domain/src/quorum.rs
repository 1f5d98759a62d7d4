//! The quorum rule, as a pure function.
//!
//! A request is approved when its approving principals can be matched one-to-one to the rules'
//! places so that every rule `{role, count}` gets `count` distinct principals holding `role`.
//! One person fills at most one place, even when holding several roles: a person holding both
//! `security` and `platform` cannot satisfy `[{security,1},{platform,1}]` alone.
//!
//! This is a bipartite b-matching (principals on one side, rules with capacity `count` on the
//! other), solved with augmenting paths. Sizes are tiny (a few rules, a few voters), so the
//! simple O(V·E) algorithm is the right one.

use crate::id::PrincipalId;
use crate::policy::ApprovalRule;
use crate::role::RoleId;

/// An approving principal with the roles it held when it voted.
#[derive(Debug, Clone, Copy)]
pub struct Approver<'a> {
    pub principal: PrincipalId,
    pub roles: &'a [RoleId],
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// Every rule has all its places filled.
    pub met: bool,
    /// For every rule with places left, how many (same order as the rules).
    pub remaining: Vec<ApprovalRule>,
    /// Which rule each counted approver fills, as `(principal, rule index)`.
    pub assignment: Vec<(PrincipalId, usize)>,
}

/// Match approvers to rules and report whether the quorum is met and what remains per rule.
///
/// Duplicate principals are counted once. An approver holding none of the rules' roles fills
/// nothing.
pub fn evaluate(rules: &[ApprovalRule], approvers: &[Approver<'_>]) -> QuorumStatus {
    // Deduplicate by principal, keeping the first vote (one person never counts twice).
    let mut voters: Vec<Approver<'_>> = Vec::with_capacity(approvers.len());
    for a in approvers {
        if !voters.iter().any(|v| v.principal == a.principal) {
            voters.push(*a);
        }
    }
    // edges[v] = the rules voter v could fill.
    let edges: Vec<Vec<usize>> = voters
        .iter()
        .map(|v| {
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| v.roles.contains(&r.role))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let capacity: Vec<usize> = rules.iter().map(|r| r.count as usize).collect();
    let mut assigned: Vec<Option<usize>> = vec![None; voters.len()];
    let mut load: Vec<usize> = vec![0; rules.len()];

    for v in 0..voters.len() {
        let mut visited = vec![false; rules.len()];
        augment(v, &edges, &capacity, &mut assigned, &mut load, &mut visited);
    }

    let remaining: Vec<ApprovalRule> = rules
        .iter()
        .zip(&load)
        .filter(|(r, l)| (r.count as usize) > **l)
        .map(|(r, l)| ApprovalRule {
            role: r.role.clone(),
            count: r.count - *l as u32,
        })
        .collect();
    QuorumStatus {
        met: remaining.is_empty(),
        remaining,
        assignment: voters
            .iter()
            .zip(&assigned)
            .filter_map(|(v, a)| a.map(|r| (v.principal, r)))
            .collect(),
    }
}

/// Try to place voter `v`, moving already-placed voters along an augmenting path if needed.
fn augment(
    v: usize,
    edges: &[Vec<usize>],
    capacity: &[usize],
    assigned: &mut [Option<usize>],
    load: &mut [usize],
    visited: &mut [bool],
) -> bool {
    for &r in &edges[v] {
        if visited[r] {
            continue;
        }
        visited[r] = true;
        if load[r] < capacity[r] {
            assigned[v] = Some(r);
            load[r] += 1;
            return true;
        }
        // Rule r is full: can one of its occupants move elsewhere?
        let occupants: Vec<usize> = (0..assigned.len())
            .filter(|&o| assigned[o] == Some(r))
            .collect();
        for o in occupants {
            assigned[o] = None;
            load[r] -= 1;
            if augment(o, edges, capacity, assigned, load, visited) {
                assigned[v] = Some(r);
                load[r] += 1;
                return true;
            }
            assigned[o] = Some(r);
            load[r] += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(s: &str) -> RoleId {
        RoleId::parse(s).unwrap()
    }

    fn rule(r: &str, count: u32) -> ApprovalRule {
        ApprovalRule {
            role: role(r),
            count,
        }
    }

    struct Voters(Vec<(PrincipalId, Vec<RoleId>)>);

    impl Voters {
        fn new(spec: &[&[&str]]) -> Self {
            Voters(
                spec.iter()
                    .map(|rs| (PrincipalId::new(), rs.iter().map(|r| role(r)).collect()))
                    .collect(),
            )
        }
        fn approvers(&self) -> Vec<Approver<'_>> {
            self.0
                .iter()
                .map(|(p, rs)| Approver {
                    principal: *p,
                    roles: rs,
                })
                .collect()
        }
    }

    #[test]
    fn one_person_with_both_roles_cannot_fill_two_rules() {
        let rules = [rule("security", 1), rule("platform", 1)];
        let v = Voters::new(&[&["security", "platform"]]);
        let q = evaluate(&rules, &v.approvers());
        assert!(!q.met);
        assert_eq!(q.remaining.len(), 1);
        assert_eq!(q.remaining[0].count, 1);
        assert_eq!(q.assignment.len(), 1);
    }

    #[test]
    fn the_same_person_voting_twice_counts_once() {
        let rules = [rule("security", 2)];
        let v = Voters::new(&[&["security"]]);
        let mut approvers = v.approvers();
        approvers.push(approvers[0]);
        let q = evaluate(&rules, &approvers);
        assert!(!q.met);
        assert_eq!(q.remaining, vec![rule("security", 1)]);
    }

    #[test]
    fn two_distinct_people_fill_two_rules() {
        let rules = [rule("security", 1), rule("platform", 1)];
        let v = Voters::new(&[&["security"], &["platform"]]);
        let q = evaluate(&rules, &v.approvers());
        assert!(q.met);
        assert!(q.remaining.is_empty());
    }

    #[test]
    fn augmenting_path_moves_a_flexible_voter() {
        // The first voter could fill either rule and greedily takes `security`; the second can
        // only fill `security`, so the first must be moved to `platform`.
        let rules = [rule("security", 1), rule("platform", 1)];
        let v = Voters::new(&[&["security", "platform"], &["security"]]);
        let q = evaluate(&rules, &v.approvers());
        assert!(q.met, "{q:?}");
    }

    #[test]
    fn m_of_n_counts_distinct_people() {
        let rules = [rule("approver", 2)];
        let one = Voters::new(&[&["approver"]]);
        assert_eq!(
            evaluate(&rules, &one.approvers()).remaining,
            vec![rule("approver", 1)]
        );
        let two = Voters::new(&[&["approver"], &["approver"]]);
        assert!(evaluate(&rules, &two.approvers()).met);
    }

    #[test]
    fn voters_without_a_matching_role_fill_nothing() {
        let rules = [rule("security", 1)];
        let v = Voters::new(&[&["auditor"], &["platform"]]);
        let q = evaluate(&rules, &v.approvers());
        assert!(!q.met);
        assert!(q.assignment.is_empty());
    }

    #[test]
    fn no_rules_is_trivially_met() {
        assert!(evaluate(&[], &[]).met);
    }

    #[test]
    fn three_rules_need_three_people_even_if_each_holds_two_roles() {
        let rules = [rule("a", 1), rule("b", 1), rule("c", 1)];
        let two = Voters::new(&[&["a", "b", "c"], &["a", "b", "c"]]);
        let q = evaluate(&rules, &two.approvers());
        assert!(!q.met);
        assert_eq!(q.remaining.iter().map(|r| r.count).sum::<u32>(), 1);
        let three = Voters::new(&[&["a", "b"], &["a", "b"], &["b", "c"]]);
        assert!(evaluate(&rules, &three.approvers()).met);
    }

    /// Exhaustive cross-check against brute force over small instances: the matching is
    /// maximum, so "met" must agree with trying every assignment.
    #[test]
    fn agrees_with_brute_force_on_small_instances() {
        let roles = ["a", "b", "c"];
        let subsets: Vec<Vec<RoleId>> = (1u8..8)
            .map(|m| {
                (0..3)
                    .filter(|i| m & (1 << i) != 0)
                    .map(|i| role(roles[i]))
                    .collect()
            })
            .collect();
        let rule_sets = [
            vec![rule("a", 1), rule("b", 1)],
            vec![rule("a", 2), rule("c", 1)],
            vec![rule("a", 1), rule("b", 1), rule("c", 1)],
        ];
        for rules in &rule_sets {
            for n in 1..=3usize {
                let mut idx = vec![0usize; n];
                loop {
                    let voters: Vec<(PrincipalId, Vec<RoleId>)> = idx
                        .iter()
                        .map(|&i| (PrincipalId::new(), subsets[i].clone()))
                        .collect();
                    let approvers: Vec<Approver<'_>> = voters
                        .iter()
                        .map(|(p, r)| Approver {
                            principal: *p,
                            roles: r,
                        })
                        .collect();
                    let got = evaluate(rules, &approvers).met;
                    assert_eq!(got, brute_force(rules, &voters), "{rules:?} {voters:?}");
                    // next combination
                    let mut k = 0;
                    loop {
                        if k == n {
                            break;
                        }
                        idx[k] += 1;
                        if idx[k] < subsets.len() {
                            break;
                        }
                        idx[k] = 0;
                        k += 1;
                    }
                    if k == n {
                        break;
                    }
                }
            }
        }
    }

    fn brute_force(rules: &[ApprovalRule], voters: &[(PrincipalId, Vec<RoleId>)]) -> bool {
        fn go(
            i: usize,
            rules: &[ApprovalRule],
            voters: &[(PrincipalId, Vec<RoleId>)],
            load: &mut Vec<u32>,
        ) -> bool {
            if rules.iter().zip(load.iter()).all(|(r, l)| *l >= r.count) {
                return true;
            }
            if i == voters.len() {
                return false;
            }
            // voter i fills nothing
            if go(i + 1, rules, voters, load) {
                return true;
            }
            for (ri, r) in rules.iter().enumerate() {
                if voters[i].1.contains(&r.role) && load[ri] < r.count {
                    load[ri] += 1;
                    let ok = go(i + 1, rules, voters, load);
                    load[ri] -= 1;
                    if ok {
                        return true;
                    }
                }
            }
            false
        }
        go(0, rules, voters, &mut vec![0; rules.len()])
    }
}
