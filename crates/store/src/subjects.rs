//! Subjects: the things operations act on.

use async_trait::async_trait;
use countersign_domain::{PolicyId, Subject, SubjectId};

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

/// Filters for [`SubjectRepo::list_subjects`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFilter {
    pub kind: Option<String>,
    pub policy_id: Option<PolicyId>,
}

#[async_trait]
pub trait SubjectRepo {
    /// Insert a subject. A taken `(kind, name)` is
    /// `Conflict { constraint: "subjects_kind_name_key" }`; a missing policy is `ForeignKey`.
    async fn insert_subject(&mut self, subject: &Subject) -> StoreResult<()>;

    async fn get_subject(&mut self, id: SubjectId) -> StoreResult<Option<Subject>>;

    /// Newest first.
    async fn list_subjects(
        &mut self,
        filter: &SubjectFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Subject>>;
}
