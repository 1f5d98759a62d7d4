//! The backend-agnostic conformance suite (feature `conformance`).
//!
//! Each public `async fn` here takes a fresh, migrated [`crate::Store`] (as
//! [`fixtures::TestStore`], an `Arc<dyn Store>`, so tests can spawn concurrent tasks) and
//! panics on a broken contract. It builds its own fixtures through the store traits and uses
//! nothing backend-specific, so every backend runs the very same suite: one fresh database
//! per test, through [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! countersign_store::conformance_tests! {
//!     #[sqlx::test(migrations = "../../migrations/postgres")]
//!     |pool: sqlx::PgPool| std::sync::Arc::new(PgStore::from_pool(pool))
//! }
//! ```
//!
//! The macro expands to one `async fn` test per function listed in [`ALL`], each carrying
//! the given attribute, taking the given argument and building the store with the given
//! expression.
//!
//! Files: one per aggregate ([`principals`], [`keys`], [`roles`], [`policies`],
//! [`subjects`], [`jobs`], [`approvals`], [`audit`], [`webhooks`], [`reminders`], [`log`],
//! [`sessions`]), [`uow`] for the unit of work and [`fixtures`] for shared builders.

pub mod approvals;
pub mod audit;
pub mod fixtures;
pub mod jobs;
pub mod keys;
pub mod log;
pub mod policies;
pub mod principals;
pub mod reminders;
pub mod roles;
pub mod sessions;
pub mod subjects;
pub mod uow;
pub mod webhooks;

pub use fixtures::TestStore;

/// Walk every page of a list with page size `$limit`, asserting the page shape (a page with
/// a next cursor is full; no empty page is followed by another), and return every item in
/// order. `$page` names the `PageRequest` inside `$fetch`.
#[macro_export]
#[doc(hidden)]
macro_rules! __walk_pages {
    ($limit:expr, |$page:ident| $fetch:expr) => {{
        let limit: u32 = $limit;
        let mut all = ::std::vec::Vec::new();
        let mut $page = $crate::PageRequest::first(limit);
        let mut pages = 0usize;
        loop {
            let got = $fetch.await.expect("list page");
            pages += 1;
            assert!(pages < 10_000, "pagination does not terminate");
            assert!(
                got.items.len() <= limit as usize,
                "page larger than its limit"
            );
            match got.next {
                Some(next) => {
                    assert_eq!(
                        got.items.len(),
                        limit as usize,
                        "a page with a next cursor is full"
                    );
                    all.extend(got.items);
                    $page = $crate::PageRequest {
                        limit,
                        after: Some(next),
                    };
                }
                None => {
                    all.extend(got.items);
                    break;
                }
            }
        }
        all
    }};
}
pub use crate::__walk_pages as walk_pages;

/// Every conformance function as `(module, name)`, in suite order.
pub const ALL: &[(&str, &str)] = crate::conformance_tests!(@list names);

/// Expand to one test per conformance function (see the module docs).
///
/// `#[attr] |arg: Type| make_store` — each test is `#[attr] async fn <name>(arg: Type)` that
/// runs `conformance::<module>::<name>(make_store)`, `make_store` being an
/// `Arc<dyn Store>` ([`TestStore`]). The `@…` rules are internal.
#[macro_export]
macro_rules! conformance_tests {
    (#[$attr:meta] |$arg:ident : $ty:ty| $make:expr) => {
        $crate::conformance_tests! { @list tests [$attr] [$arg : $ty] [$make] }
    };
    (@list $then:ident $($context:tt)*) => {
        $crate::conformance_tests! { @$then $($context)* ;
            uow::uow_rollback_discards_writes,
            uow::uow_readiness_and_backend_name,
            principals::principals_insert_get_by_id_and_name,
            principals::principals_name_conflict,
            principals::principals_pagination,
            principals::principals_disable_is_compare_and_set,
            principals::principals_role_assignment,
            principals::principals_roles_of_many_and_active_holders,
            keys::keys_insert_get_and_foreign_key,
            keys::keys_list_filter_and_pagination,
            keys::keys_revoke_is_compare_and_set,
            keys::keys_auth_record,
            roles::roles_builtins_seeded,
            roles::roles_insert_get_lock_and_conflict,
            roles::roles_pagination,
            roles::roles_missing_roles,
            roles::roles_update_generation_cas,
            roles::roles_delete,
            policies::policies_insert_get_with_ordered_rules,
            policies::policies_name_conflict,
            policies::policies_unknown_role_is_foreign_key,
            policies::policies_pagination,
            policies::policies_update_generation_cas,
            policies::policies_reminder_settings_and_their_checks,
            subjects::subjects_insert_get,
            subjects::subjects_conflict_and_unknown_policy,
            subjects::subjects_filter_and_pagination,
            jobs::jobs_insert_get_and_lock,
            jobs::jobs_idempotency_key,
            jobs::jobs_missing_subject_is_foreign_key,
            jobs::jobs_filter_and_pagination,
            jobs::jobs_transition_is_compare_and_set,
            jobs::jobs_claim_oldest_and_by_action,
            jobs::jobs_claim_concurrently_exactly_once,
            jobs::jobs_complete_only_by_holder,
            jobs::jobs_lock_expired_leases_skips_locked,
            approvals::approvals_insert_get_with_votes,
            approvals::approvals_one_pending_per_job,
            approvals::approvals_duplicate_vote,
            approvals::approvals_decide_is_compare_and_set,
            approvals::approvals_newest_for_job,
            approvals::approvals_filter_and_pagination,
            approvals::approvals_lock_due_skips_locked,
            approvals::approvals_lock_serializes_voters,
            audit::audit_append_and_get_round_trip,
            audit::audit_duplicates_are_counted,
            audit::audit_large_batch,
            audit::audit_concurrent_appends,
            audit::audit_list_filters_and_pagination,
            audit::audit_export_order_and_chunks,
            audit::audit_export_resume_limit_and_category,
            audit::audit_export_empty_window,
            webhooks::webhooks_insert_get_list_disable_delete,
            webhooks::webhooks_outbox_claim_and_record,
            webhooks::webhooks_claim_keeps_order_per_key,
            webhooks::webhooks_claim_takes_each_keys_head_from_a_backlog,
            webhooks::webhooks_redeliver_restarts_the_schedule,
            reminders::reminders_insert_get_and_one_per_request,
            reminders::reminders_due_and_compare_and_set,
            reminders::reminders_lock_due_skips_locked,
            log::log_queue_follows_appends,
            log::log_queue_carries_each_events_leaf_hash,
            log::log_head_is_compare_and_set,
            log::log_leaves_append_and_read,
            log::log_tiles_only_grow,
            log::log_checkpoints_latest_and_by_size,
            log::log_export_rows_carry_leaf_index,
            log::log_export_by_leaf_range,
            sessions::sessions_touch_end_and_guard,
            sessions::sessions_approvals_awaiting_vote,
        }
    };
    (@tests [$attr:meta] [$arg:ident : $ty:ty] [$make:expr] ; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[$attr]
            async fn $name($arg: $ty) {
                let store: $crate::conformance::TestStore = $make;
                $crate::conformance::$module::$name(store).await;
            }
        )*
    };
    (@names ; $($module:ident :: $name:ident),* $(,)?) => {
        &[$((::core::stringify!($module), ::core::stringify!($name))),*]
    };
}

#[cfg(test)]
mod tests {
    /// The list every backend's `conformance_tests!` expands: the whole suite, each name once.
    #[test]
    fn every_conformance_function_is_listed_once() {
        assert!(super::ALL.len() >= 50, "{}", super::ALL.len());
        let names: std::collections::HashSet<_> = super::ALL.iter().map(|(_, n)| n).collect();
        assert_eq!(names.len(), super::ALL.len(), "test names are unique");
    }
}
