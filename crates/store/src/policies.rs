//! Policies and their approval rules.

use async_trait::async_trait;
use countersign_domain::{Policy, PolicyId};

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};

#[async_trait]
pub trait PolicyRepo {
    /// Insert a policy with its rules (in order). A taken name is
    /// `Conflict { constraint: "policies_name_key" }`; a rule naming a missing role is
    /// `ForeignKey { constraint: "policy_rules_role_id_fkey" }`.
    async fn insert_policy(&mut self, policy: &Policy) -> StoreResult<()>;

    async fn get_policy(&mut self, id: PolicyId) -> StoreResult<Option<Policy>>;

    /// Newest first.
    async fn list_policies(&mut self, page: &PageRequest) -> StoreResult<Page<Policy>>;

    /// Compare-and-set on generation: replace name, requires_approval, rules, timeout and the
    /// reminder and escalation settings of `policy.id` if its stored generation is
    /// `expected_generation`; the stored generation becomes `expected_generation + 1` and
    /// `updated_at` becomes `policy.updated_at`.
    /// `None` on a generation mismatch or a missing policy.
    async fn update_policy(
        &mut self,
        policy: &Policy,
        expected_generation: i64,
    ) -> StoreResult<Option<Policy>>;
}
