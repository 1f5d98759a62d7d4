//! Translating sqlx/SQLite errors into [`StoreError`], at the lowest layer, with the same
//! constraint names the PostgreSQL backend reports.
//!
//! SQLite names fewer things than PostgreSQL, so the names come from the schema's own shapes:
//!
//! | SQLite (extended result code)                       | [`StoreError`]                     |
//! |-----------------------------------------------------|------------------------------------|
//! | `2067` UNIQUE / `1555` PRIMARYKEY: "UNIQUE constraint failed: t.a, t.b" | `Conflict { constraint }`: the column list mapped to the index name (`votes.approval_id, votes.principal_id` → `votes_pkey`, …); a primary key is `<table>_pkey` |
//! | `787` FOREIGNKEY: "FOREIGN KEY constraint failed" (no name) | `ForeignKey { constraint: "foreign_key" }` |
//! | `1811` TRIGGER: `RAISE(ABORT, '<name>: <why>')`     | `ForeignKey { name }` for a `…_fkey` name, else `Check { name, why }` |
//! | `275` CHECK: `CHECK constraint failed: <name>`      | `Check { name, message }` (every CHECK is named in the schema) |
//! | `1299` NOTNULL / `3091` DATATYPE                    | `Check { <table>_<column>_not_null / _type, message }` |
//! | BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL (primary codes 5–8, 10, 13–15) | `Unavailable` |
//! | pool timeout, pool closed, I/O, TLS, worker crash   | `Unavailable`                      |
//! | anything else                                       | `Other`                            |
//!
//! Two names need the schema's help because SQLite never names a foreign key: the triggers on
//! `policy_rules` and `roles` refuse with `policy_rules_role_id_fkey` before the key itself
//! would, and a COMMIT refused by the one deferred foreign key is reported by
//! [`crate::SqliteDialect`] as `Check { constraint: "policies_rules_when_required" }`,
//! as PostgreSQL does.

use countersign_sql::DriverResults;
use countersign_store::error::constraints;
use countersign_store::StoreError;
use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteQueryResult;

use crate::SqliteDialect;

/// The name reported for a foreign-key violation: SQLite does not say which key broke.
pub const UNNAMED_FOREIGN_KEY: &str = "foreign_key";

/// The deferred constraint checked at COMMIT (see the schema).
pub const POLICIES_RULES_WHEN_REQUIRED: &str = "policies_rules_when_required";

// SQLite result codes (https://www.sqlite.org/rescode.html).
const SQLITE_CONSTRAINT_CHECK: i64 = 275;
const SQLITE_CONSTRAINT_FOREIGNKEY: i64 = 787;
const SQLITE_CONSTRAINT_NOTNULL: i64 = 1299;
const SQLITE_CONSTRAINT_PRIMARYKEY: i64 = 1555;
const SQLITE_CONSTRAINT_TRIGGER: i64 = 1811;
const SQLITE_CONSTRAINT_UNIQUE: i64 = 2067;
const SQLITE_CONSTRAINT_DATATYPE: i64 = 3091;
/// Primary codes meaning "the database cannot serve this now": BUSY, LOCKED, NOMEM, READONLY,
/// IOERR, FULL, CANTOPEN, PROTOCOL.
const UNAVAILABLE_PRIMARY: [i64; 8] = [5, 6, 7, 8, 10, 13, 14, 15];

/// Unique indexes by table and column list, named as in PostgreSQL. Primary keys are
/// `<table>_pkey` and need no entry.
const UNIQUE_INDEXES: &[(&str, &str, &str)] = &[
    (
        "votes",
        "approval_id,principal_id",
        constraints::VOTES_ONE_PER_PRINCIPAL,
    ),
    (
        "approvals",
        "job_id",
        constraints::APPROVALS_ONE_PENDING_PER_JOB,
    ),
    ("principals", "name", constraints::PRINCIPALS_NAME),
    ("policies", "name", constraints::POLICIES_NAME),
    ("subjects", "kind,name", constraints::SUBJECTS_KIND_NAME),
    (
        "jobs",
        "requested_by,idempotency_key",
        constraints::JOBS_IDEMPOTENCY,
    ),
    (
        "policy_rules",
        "policy_id,role_id",
        "policy_rules_one_per_role",
    ),
];

fn code(db: &dyn DatabaseError) -> i64 {
    db.code().and_then(|c| c.parse().ok()).unwrap_or_default()
}

impl DriverResults for SqliteDialect {
    type QueryResult = SqliteQueryResult;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn map_database(db: Box<dyn DatabaseError>) -> StoreError {
        let code = code(db.as_ref());
        let message = db.message().to_owned();
        match code {
            SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => StoreError::Conflict {
                constraint: unique_name(&message, code == SQLITE_CONSTRAINT_PRIMARYKEY),
            },
            SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::ForeignKey {
                constraint: UNNAMED_FOREIGN_KEY.into(),
            },
            SQLITE_CONSTRAINT_TRIGGER => {
                let (constraint, why) = match message.split_once(": ") {
                    Some((name, why)) => (name.to_owned(), why.to_owned()),
                    None => ("unknown".to_owned(), message.clone()),
                };
                if constraint.ends_with("_fkey") {
                    StoreError::ForeignKey { constraint }
                } else {
                    StoreError::Check {
                        constraint,
                        message: why,
                    }
                }
            }
            SQLITE_CONSTRAINT_CHECK => StoreError::Check {
                constraint: message
                    .strip_prefix("CHECK constraint failed: ")
                    .unwrap_or("unknown")
                    .to_owned(),
                message,
            },
            SQLITE_CONSTRAINT_NOTNULL => StoreError::Check {
                constraint: column_name(&message, "NOT NULL constraint failed: ", "not_null"),
                message,
            },
            SQLITE_CONSTRAINT_DATATYPE => StoreError::Check {
                constraint: message
                    .rsplit(' ')
                    .next()
                    .map(|col| format!("{}_type", col.replace('.', "_")))
                    .unwrap_or_else(|| "unknown".into()),
                message,
            },
            c if UNAVAILABLE_PRIMARY.contains(&(c & 0xff)) => StoreError::Unavailable(message),
            _ => StoreError::other(sqlx::Error::Database(db)),
        }
    }

    /// Map the error of a COMMIT: a foreign-key violation there can only be the one deferred
    /// constraint of the schema.
    fn map_commit_error(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if code(db.as_ref()) == SQLITE_CONSTRAINT_FOREIGNKEY {
                return StoreError::Check {
                    constraint: POLICIES_RULES_WHEN_REQUIRED.into(),
                    message: "a policy that requires approval has no rules".into(),
                };
            }
        }
        Self::map_error(e)
    }
}

/// The constraint name of "UNIQUE constraint failed: t.a, t.b".
fn unique_name(message: &str, primary_key: bool) -> String {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or_default();
    let mut table = "";
    let mut names = Vec::new();
    for qualified in columns.split(", ") {
        let (t, column) = qualified.split_once('.').unwrap_or(("", qualified));
        table = t;
        names.push(column);
    }
    let list = names.join(",");
    if let Some((_, _, name)) = UNIQUE_INDEXES
        .iter()
        .find(|(t, cols, _)| *t == table && *cols == list)
    {
        return (*name).to_owned();
    }
    if primary_key {
        format!("{table}_pkey")
    } else {
        format!("{table}_{}_key", names.join("_"))
    }
}

/// `<table>_<column>_<suffix>` from "<prefix>table.column".
fn column_name(message: &str, prefix: &str, suffix: &str) -> String {
    message
        .strip_prefix(prefix)
        .map(|c| format!("{}_{suffix}", c.replace('.', "_")))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_messages_name_the_index() {
        let cases = [
            (
                "UNIQUE constraint failed: votes.approval_id, votes.principal_id",
                false,
                "votes_pkey",
            ),
            (
                "UNIQUE constraint failed: approvals.job_id",
                false,
                "approvals_one_pending_per_job",
            ),
            (
                "UNIQUE constraint failed: jobs.requested_by, jobs.idempotency_key",
                false,
                "jobs_idempotency_key",
            ),
            (
                "UNIQUE constraint failed: subjects.kind, subjects.name",
                false,
                "subjects_kind_name_key",
            ),
            ("UNIQUE constraint failed: roles.id", true, "roles_pkey"),
            (
                "UNIQUE constraint failed: principal_roles.principal_id, principal_roles.role_id",
                true,
                "principal_roles_pkey",
            ),
            (
                "UNIQUE constraint failed: things.a, things.b",
                false,
                "things_a_b_key",
            ),
        ];
        for (message, pk, want) in cases {
            assert_eq!(unique_name(message, pk), want, "{message}");
        }
    }

    #[test]
    fn not_null_names_the_column() {
        assert_eq!(
            column_name(
                "NOT NULL constraint failed: jobs.status",
                "NOT NULL constraint failed: ",
                "not_null"
            ),
            "jobs_status_not_null"
        );
    }
}
