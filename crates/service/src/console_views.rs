//! What the console's pages show that no single API answer holds: approvals with the names of
//! the people and the subject they involve, and the approvals waiting on the caller's vote.
//!
//! Every read here goes through the same permission check as the API's (`approval.read`), and
//! the names it adds are the ones the notifications already carry (`data.requester`,
//! `data.subject`, `waiting_on`) to anyone who may read the approval.
//!
//! "Waiting on me" lists the approvals pending now that the caller did not request, has not
//! voted on, and whose rules name one of the caller's roles (one indexed query, newest first),
//! kept when the caller's approve vote would count by the eligibility rule
//! ([`crate::eligibility`]). A page may therefore hold fewer rows than its limit when a rule
//! the caller could fill is already full; its cursor still continues after the last row read.

use std::collections::{BTreeSet, HashMap};

use countersign_api::{ApprovalView, Eligibility};
use countersign_domain::{clock, ApprovalId, Permission, PrincipalId, Resource, SubjectId};
use countersign_store::{ApprovalFilter, Transaction};

use crate::approvals::views_with_jobs;
use crate::caller::Caller;
use crate::eligibility::would_count;
use crate::error::{ServiceError, ServiceResult};
use crate::paging::{ListParams, Listing};
use crate::service::Service;

/// The subject an approval acts on, as the console names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectName {
    pub id: SubjectId,
    pub kind: String,
    pub name: String,
}

/// An approval with the names it involves.
#[derive(Debug, Clone)]
pub struct NamedApproval {
    pub approval: ApprovalView,
    pub subject: SubjectName,
    pub requester: String,
    /// The name of every voter, by principal id.
    pub voters: HashMap<PrincipalId, String>,
}

/// One approval's page: the approval with names, and who may still vote (the caller's verdict
/// included).
#[derive(Debug, Clone)]
pub struct ApprovalDetail {
    pub named: NamedApproval,
    pub eligibility: Eligibility,
}

impl Service {
    /// The approvals waiting on the caller's vote, newest first (`approval.read`).
    pub async fn waiting_on_me(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> ServiceResult<Listing<NamedApproval>> {
        self.require(
            caller,
            Permission::ApprovalRead,
            Resource::new("approval", "*"),
        )
        .await?;
        let page = params.to_page()?;
        if !caller.has(Permission::ApprovalApprove) {
            return Ok(Listing {
                data: Vec::new(),
                next_cursor: None,
            });
        }
        let now = clock::now();
        let mut tx = self.begin().await?;
        let found = tx
            .list_awaiting_vote(caller.id(), &caller.roles, now, &page)
            .await?;
        let waiting: Vec<_> = found
            .items
            .into_iter()
            .map(|a| a.as_of(now))
            .filter(|a| would_count(caller, a))
            .collect();
        let views = views_with_jobs(tx.as_mut(), waiting, now).await?;
        let data = name_all(tx.as_mut(), views).await?;
        tx.commit().await?;
        Ok(Listing {
            data,
            next_cursor: found.next.map(|c| c.encode()),
        })
    }

    /// Approvals by filter, with names (`approval.read`), as `GET /api/v1/approvals` lists
    /// them.
    pub async fn named_approvals(
        &self,
        caller: &Caller,
        filter: &ApprovalFilter,
        params: &ListParams,
    ) -> ServiceResult<Listing<NamedApproval>> {
        let listing = self.list_approvals(caller, filter, params).await?;
        let mut tx = self.begin().await?;
        let data = name_all(tx.as_mut(), listing.data).await?;
        tx.commit().await?;
        Ok(Listing {
            data,
            next_cursor: listing.next_cursor,
        })
    }

    /// One approval with names and its eligibility (`approval.read`).
    pub async fn approval_detail(
        &self,
        caller: &Caller,
        id: ApprovalId,
    ) -> ServiceResult<ApprovalDetail> {
        let view = self.get_approval(caller, id).await?;
        let eligibility = self.approval_eligibility(caller, id).await?;
        let mut tx = self.begin().await?;
        let named = name_all(tx.as_mut(), vec![view])
            .await?
            .pop()
            .ok_or_else(|| ServiceError::Internal("a named approval went missing".into()))?;
        tx.commit().await?;
        Ok(ApprovalDetail { named, eligibility })
    }
}

/// Add names to `views`, reading each distinct principal and subject once.
async fn name_all(
    tx: &mut dyn Transaction,
    views: Vec<ApprovalView>,
) -> ServiceResult<Vec<NamedApproval>> {
    let mut people: BTreeSet<PrincipalId> = BTreeSet::new();
    let mut subjects: BTreeSet<SubjectId> = BTreeSet::new();
    for v in &views {
        people.insert(v.approval.requested_by);
        people.extend(v.approval.votes.iter().map(|vote| vote.principal_id));
        subjects.insert(v.approval.subject_id);
    }
    let mut names: HashMap<PrincipalId, String> = HashMap::new();
    for id in people {
        if let Some(p) = tx.get_principal(id).await? {
            names.insert(id, p.name.to_string());
        }
    }
    let mut subject_names: HashMap<SubjectId, SubjectName> = HashMap::new();
    for id in subjects {
        if let Some(s) = tx.get_subject(id).await? {
            subject_names.insert(
                id,
                SubjectName {
                    id,
                    kind: s.kind,
                    name: s.name,
                },
            );
        }
    }
    let name_of = |id: &PrincipalId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    Ok(views
        .into_iter()
        .map(|approval| {
            let subject = subject_names
                .get(&approval.approval.subject_id)
                .cloned()
                .unwrap_or_else(|| SubjectName {
                    id: approval.approval.subject_id,
                    kind: String::new(),
                    name: approval.approval.subject_id.to_string(),
                });
            let voters = approval
                .approval
                .votes
                .iter()
                .map(|v| (v.principal_id, name_of(&v.principal_id)))
                .collect();
            NamedApproval {
                requester: name_of(&approval.approval.requested_by),
                subject,
                voters,
                approval,
            }
        })
        .collect())
}
