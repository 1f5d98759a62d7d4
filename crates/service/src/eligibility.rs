//! "Who can approve this?": `GET /api/v1/approvals/{id}/eligible`.
//!
//! For each rule of an approval request: how many places it has, how many are still open, and
//! — while the request is pending — the principals whose approve vote would fill an open place
//! of it, with the roles they hold that match the rules. And for the caller: whether their
//! approve vote would count now, and if not, why.
//!
//! A principal is a candidate when it is enabled, is not the requester (two-person
//! integrity), has not voted yet, holds `approval.approve`, and its vote would raise the
//! quorum matching. That last test is exact, not just "holds the rule's role": one person fills
//! one place, so a candidate may also fill an open rule *indirectly* — by taking a full rule's
//! place from an earlier voter who holds the open rule's role too and moves over (an
//! augmenting path in the quorum's bipartite matching, [`countersign_domain::quorum`]).
//!
//! Everything is read in one transaction from the current roles; votes already cast count
//! with the roles their voters held when they voted.

use std::collections::{BTreeSet, HashMap, VecDeque};

use countersign_domain::{
    clock, ApprovalId, ApprovalRequest, ApprovalState, Permission, PrincipalId, Resource, RoleId,
    VoteDecision,
};

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::service::Service;
use countersign_store::Transaction;

pub use countersign_api::{CallerEligibility, Candidate, Eligibility, RuleEligibility};

/// The current quorum matching of a request, in a form that answers "which open rules could a
/// new approver holding these roles fill?".
struct Matching<'a> {
    approval: &'a ApprovalRequest,
    /// Places taken per rule.
    load: Vec<u32>,
    /// For each rule, the roles of the approvers occupying its places.
    occupants: Vec<Vec<&'a [RoleId]>>,
}

impl<'a> Matching<'a> {
    fn new(approval: &'a ApprovalRequest) -> Self {
        let status = approval.quorum();
        let mut load = vec![0; approval.rules.len()];
        let mut occupants = vec![Vec::new(); approval.rules.len()];
        for (principal, rule) in &status.assignment {
            load[*rule] += 1;
            if let Some(v) = approval
                .votes
                .iter()
                .find(|v| v.principal_id == *principal && v.decision == VoteDecision::Approve)
            {
                occupants[*rule].push(v.roles.as_slice());
            }
        }
        Self {
            approval,
            load,
            occupants,
        }
    }

    fn remaining(&self, rule: usize) -> u32 {
        self.approval.rules[rule]
            .count
            .saturating_sub(self.load[rule])
    }

    /// The open rules (indices) a new approver holding `roles` could fill, directly held ones
    /// first: a breadth-first search for augmenting paths from the rules it holds, through
    /// full rules' occupants, to rules with an open place.
    fn fillable(&self, roles: &[RoleId]) -> Vec<usize> {
        let rules = &self.approval.rules;
        let mut seen = vec![false; rules.len()];
        let mut queue: VecDeque<usize> = VecDeque::new();
        for (i, r) in rules.iter().enumerate() {
            if roles.contains(&r.role) {
                seen[i] = true;
                queue.push_back(i);
            }
        }
        let mut open = Vec::new();
        while let Some(i) = queue.pop_front() {
            if self.remaining(i) > 0 {
                open.push(i);
            }
            for occupant in &self.occupants[i] {
                for (j, r) in rules.iter().enumerate() {
                    if !seen[j] && occupant.contains(&r.role) {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        open
    }
}

impl Service {
    /// `GET /api/v1/approvals/{id}/eligible` (`approval.read`).
    pub async fn approval_eligibility(
        &self,
        caller: &Caller,
        id: ApprovalId,
    ) -> ServiceResult<Eligibility> {
        self.require(
            caller,
            Permission::ApprovalRead,
            Resource::new("approval", id),
        )
        .await?;
        let mut tx = self.begin().await?;
        // Past its deadline a request reads as expired, even before the scheduler writes it.
        let approval = tx
            .get_approval(id)
            .await?
            .ok_or(ServiceError::NotFound("approval"))?
            .as_of(clock::now());
        let matching = Matching::new(&approval);
        let pending = approval.state == ApprovalState::Pending;

        let mut rules: Vec<RuleEligibility> = approval
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleEligibility {
                role: r.role.clone(),
                count: r.count,
                // An approved request needs nothing more, even when bypass decided it.
                remaining: if approval.state == ApprovalState::Approved {
                    0
                } else {
                    matching.remaining(i)
                },
                candidates: Vec::new(),
            })
            .collect();

        if pending {
            fill_candidates(tx.as_mut(), &approval, &matching, &mut rules).await?;
        }
        tx.commit().await?;

        let (would_count, reason) = caller_verdict(caller, &approval, &matching);
        Ok(Eligibility {
            approval_id: approval.id,
            state: approval.state,
            rules,
            caller: CallerEligibility {
                principal_id: caller.id(),
                would_count,
                reason,
            },
        })
    }
}

/// Whether `caller`'s approve vote on `approval` (already read as of now) would count.
pub(crate) fn would_count(caller: &Caller, approval: &ApprovalRequest) -> bool {
    caller_verdict(caller, approval, &Matching::new(approval)).0
}

/// Whether the caller's approve vote would count now, and why (not), in the vote's own order of
/// refusals.
fn caller_verdict(
    caller: &Caller,
    approval: &ApprovalRequest,
    matching: &Matching<'_>,
) -> (bool, String) {
    if approval.state.is_terminal() {
        return (false, format!("request is already {}", approval.state));
    }
    if approval.requested_by == caller.id() {
        return (false, "requester cannot vote (two-person integrity)".into());
    }
    if approval.has_voted(caller.id()) {
        return (false, "already voted".into());
    }
    if !caller.has(Permission::ApprovalApprove) {
        return (
            false,
            format!("missing permission `{}`", Permission::ApprovalApprove),
        );
    }
    if !approval.is_eligible(&caller.roles) {
        return (false, "holds none of the rules' roles".into());
    }
    match matching.fillable(&caller.roles).first() {
        Some(&i) => (true, format!("would fill rule {}", approval.rules[i].role)),
        None => (
            false,
            "every rule the caller's roles match is already filled".into(),
        ),
    }
}

/// Fill each rule's `candidates` for a pending `approval`: enabled holders of any rule's role
/// who hold `approval.approve` and whose vote would fill an open place, minus the requester
/// and those who voted, sorted by name.
async fn fill_candidates(
    tx: &mut dyn Transaction,
    approval: &ApprovalRequest,
    matching: &Matching<'_>,
    rules: &mut [RuleEligibility],
) -> ServiceResult<()> {
    let rule_roles: BTreeSet<&RoleId> = approval.rules.iter().map(|r| &r.role).collect();
    let mut people: Vec<(PrincipalId, String)> = Vec::new();
    for role in &rule_roles {
        for p in tx.active_principals_with_role(role).await? {
            if p.id != approval.requested_by
                && !approval.has_voted(p.id)
                && !people.iter().any(|(id, _)| *id == p.id)
            {
                people.push((p.id, p.name.to_string()));
            }
        }
    }
    let ids: Vec<PrincipalId> = people.iter().map(|(id, _)| *id).collect();
    let roles_of = tx.roles_of_many(&ids).await?;
    let mut can_approve: HashMap<RoleId, bool> = HashMap::new();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    for (pid, name) in people {
        let held = roles_of.get(&pid).cloned().unwrap_or_default();
        let mut approves = false;
        for role in &held {
            let grants = match can_approve.get(role) {
                Some(g) => *g,
                None => {
                    let g = tx
                        .get_role(role)
                        .await?
                        .is_some_and(|r| r.permissions.contains(&Permission::ApprovalApprove));
                    can_approve.insert(role.clone(), g);
                    g
                }
            };
            approves |= grants;
        }
        if !approves {
            continue;
        }
        let roles_matching: Vec<RoleId> = held
            .iter()
            .filter(|r| rule_roles.contains(r))
            .cloned()
            .collect();
        for i in matching.fillable(&held) {
            rules[i].candidates.push(Candidate {
                principal_id: pid,
                name: name.clone(),
                roles_matching: roles_matching.clone(),
            });
        }
    }
    Ok(())
}

/// The names of the principals who can still vote on `approval` (sorted, distinct): the
/// candidates of its rules while it is pending, nobody once it is decided. Notifications
/// carry this as `waiting_on`.
pub(crate) async fn waiting_on(
    tx: &mut dyn Transaction,
    approval: &ApprovalRequest,
) -> ServiceResult<Vec<String>> {
    if approval.state != ApprovalState::Pending {
        return Ok(Vec::new());
    }
    let matching = Matching::new(approval);
    let mut rules: Vec<RuleEligibility> = approval
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleEligibility {
            role: r.role.clone(),
            count: r.count,
            remaining: matching.remaining(i),
            candidates: Vec::new(),
        })
        .collect();
    fill_candidates(tx, approval, &matching, &mut rules).await?;
    let names: BTreeSet<String> = rules
        .into_iter()
        .flat_map(|r| r.candidates.into_iter().map(|c| c.name))
        .collect();
    Ok(names.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_domain::{clock, ApprovalRule, JobId, PolicyId, SubjectId, Vote};

    fn role(s: &str) -> RoleId {
        RoleId::parse(s).unwrap()
    }

    fn request(rules: &[(&str, u32)], votes: Vec<Vote>) -> ApprovalRequest {
        let now = clock::now();
        ApprovalRequest {
            id: ApprovalId::new(),
            job_id: JobId::new(),
            subject_id: SubjectId::new(),
            policy_id: PolicyId::new(),
            requested_by: PrincipalId::new(),
            state: ApprovalState::Pending,
            rules: rules
                .iter()
                .map(|(r, c)| ApprovalRule {
                    role: role(r),
                    count: *c,
                })
                .collect(),
            votes,
            created_at: now,
            expires_at: now + time::Duration::hours(1),
            decided_at: None,
            decided_by: None,
        }
    }

    fn approve(roles: &[&str]) -> Vote {
        Vote {
            principal_id: PrincipalId::new(),
            decision: VoteDecision::Approve,
            note: None,
            at: clock::now(),
            roles: roles.iter().map(|r| role(r)).collect(),
        }
    }

    #[test]
    fn direct_holders_fill_open_rules_only() {
        let a = request(
            &[("security", 1), ("platform", 1)],
            vec![approve(&["security"])],
        );
        let m = Matching::new(&a);
        assert_eq!(m.remaining(0), 0);
        assert_eq!(m.remaining(1), 1);
        assert_eq!(m.fillable(&[role("platform")]), vec![1]);
        assert!(
            m.fillable(&[role("security")]).is_empty(),
            "security is full"
        );
        assert!(m.fillable(&[role("other")]).is_empty());
    }

    #[test]
    fn an_earlier_voter_holding_both_roles_can_move_over() {
        // The first voter holds both roles and sits in `security`; a `security`-only voter can
        // take that place while the first moves to `platform`.
        let a = request(
            &[("security", 1), ("platform", 1)],
            vec![approve(&["platform", "security"])],
        );
        let m = Matching::new(&a);
        let open: Vec<usize> = (0..2).filter(|i| m.remaining(*i) > 0).collect();
        assert_eq!(open.len(), 1);
        let holder_of_full = if open == [1] { "security" } else { "platform" };
        assert_eq!(m.fillable(&[role(holder_of_full)]), open);
    }

    #[test]
    fn rejects_do_not_occupy_places() {
        let mut reject = approve(&["security"]);
        reject.decision = VoteDecision::Reject;
        let a = request(&[("security", 1)], vec![reject]);
        let m = Matching::new(&a);
        assert_eq!(m.remaining(0), 1);
        assert_eq!(m.fillable(&[role("security")]), vec![0]);
    }
}
