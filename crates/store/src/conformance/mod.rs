//! The backend-agnostic conformance suite (feature `conformance`).
//!
//! Each public `async fn` here takes a fresh, migrated [`crate::Store`] and panics on a broken
//! contract. A backend runs every one of them against itself, one fresh database per test.
