//! Two database roles: the owner that migrates, and a runtime role that owns nothing.
//!
//! The append-only audit trail is enforced by triggers, and whoever owns `audit_events` (or
//! is a superuser) can disable or drop them, or skip them with
//! `SET session_replication_role = replica`. So production connects the service as a
//! *runtime* role that owns nothing and holds only what the code needs:
//!
//! - `audit_events`, `votes`, `log_leaves`, `log_checkpoints` (history): `SELECT, INSERT`;
//! - `log_tiles`, `log_state` (the log's tiles and head, which only grow): `SELECT, INSERT,
//!   UPDATE`;
//! - `_sqlx_migrations` (readiness reads the newest version): `SELECT`;
//! - every other table of the schema: `SELECT, INSERT, UPDATE, DELETE`;
//! - every sequence of the schema: `USAGE, SELECT` (`votes.seq` is an identity column).
//!
//! [`runtime_grants_sql`] is that setup as one idempotent script (create the role if missing,
//! revoke everything it held in the schema, grant the above), re-runnable after every new
//! migration; [`grant_runtime`] applies it as the owner. [`role_posture`] reports whether the
//! connecting role could switch the protection off, for the binaries' warning, metric and
//! readiness detail.

use countersign_store::{RolePosture, StoreError, StoreResult};
use sqlx::PgPool;

use countersign_sql::DriverResults;

use crate::PgDialect;

fn map_sqlx(e: sqlx::Error) -> StoreError {
    PgDialect::map_error(e)
}

/// Tables that hold history: the runtime role reads and appends, never changes or deletes.
pub const APPEND_ONLY_TABLES: &[&str] = &["audit_events", "votes", "log_leaves", "log_checkpoints"];

/// Tables the runtime role may add to and update (only ever growing, which triggers
/// enforce) but never delete from: the transparency log's tiles and head.
pub const GROW_ONLY_TABLES: &[&str] = &["log_tiles", "log_state"];

/// Check that `role` is a plain identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes), so it
/// can be written into SQL without any quoting question.
pub fn check_role_name(role: &str) -> StoreResult<()> {
    let mut chars = role.chars();
    let ok = role.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Other(
            format!("`{role}` is not a role name (lowercase letters, digits and `_`, at most 63)")
                .into(),
        ))
    }
}

/// The idempotent script that creates `role` (LOGIN, no other attribute) when missing and
/// gives it exactly the runtime privileges on the tables and sequences of `schema`.
pub fn runtime_grants_sql(role: &str, schema: &str) -> StoreResult<String> {
    check_role_name(role)?;
    check_role_name(schema)?;
    let append_only = APPEND_ONLY_TABLES
        .iter()
        .map(|t| format!("\"{schema}\".{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    let grow_only = GROW_ONLY_TABLES
        .iter()
        .map(|t| format!("\"{schema}\".{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "-- The runtime role: it logs in, owns nothing and holds only what the service needs.\n\
         DO $$ BEGIN\n\
         \x20   CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;\n\
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;\n\
         END $$;\n\
         -- Start from nothing, so a re-run after new migrations leaves exactly these grants.\n\
         REVOKE ALL ON ALL TABLES IN SCHEMA \"{schema}\" FROM \"{role}\";\n\
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA \"{schema}\" FROM \"{role}\";\n\
         GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\";\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\";\n\
         -- History is append-only: read and insert, nothing else.\n\
         REVOKE UPDATE, DELETE ON {append_only} FROM \"{role}\";\n\
         -- The log's tiles and head only grow: never deleted.\n\
         REVOKE DELETE ON {grow_only} FROM \"{role}\";\n\
         -- The migration ledger is the owner's; readiness only reads it.\n\
         REVOKE INSERT, UPDATE, DELETE ON \"{schema}\"._sqlx_migrations FROM \"{role}\";\n\
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO \"{role}\";\n"
    ))
}

/// The schema the migrations created their tables in (the connection's `current_schema()`).
pub async fn current_schema(pool: &PgPool) -> StoreResult<String> {
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(pool)
        .await
        .map_err(map_sqlx)?;
    schema.ok_or_else(|| StoreError::Other("no current schema (search_path is empty)".into()))
}

/// Create and grant the runtime role `role` on the schema `pool` migrated, in one
/// transaction, and answer the script that ran. `pool` must connect as the owner of the
/// tables (and may create roles). Refused when `role` is the connecting role, a superuser, or
/// owns (or is a member of the owner of) any table in the schema: such a role could lift the
/// audit trail's protection whatever it is granted.
pub async fn grant_runtime(pool: &PgPool, role: &str) -> StoreResult<String> {
    check_role_name(role)?;
    let schema = current_schema(pool).await?;
    let sql = runtime_grants_sql(role, &schema)?;
    let (is_self, superuser, owner): (bool, bool, bool) = sqlx::query_as(
        "SELECT $1 = current_user::text, \
                coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = $1), false), \
                EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                        WHERE n.nspname = $2 AND c.relkind IN ('r', 'p', 'S') \
                          AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
                          AND pg_has_role($1, c.relowner, 'MEMBER'))",
    )
    .bind(role)
    .bind(&schema)
    .fetch_one(pool)
    .await
    .map_err(map_sqlx)?;
    if is_self || superuser || owner {
        let why = if is_self {
            "it is the role this command connects as (the owner)"
        } else if superuser {
            "it is a superuser"
        } else {
            "it owns tables of the schema (or is a member of their owner)"
        };
        return Err(StoreError::Other(
            format!("`{role}` cannot be the runtime role: {why}; name a role that owns nothing")
                .into(),
        ));
    }
    let mut tx = pool.begin().await.map_err(map_sqlx)?;
    sqlx::raw_sql(&sql)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
    tx.commit().await.map_err(map_sqlx)?;
    Ok(sql)
}

/// Whether the connecting role is a superuser, or owns `audit_events` (directly or through
/// role membership) in the connection's schema.
pub async fn role_posture(pool: &PgPool) -> StoreResult<RolePosture> {
    let (role, superuser, owns_audit_table): (String, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, \
                coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false), \
                coalesce((SELECT pg_has_role(current_user, c.relowner, 'MEMBER') \
                          FROM pg_class c \
                          WHERE c.oid = to_regclass(quote_ident(current_schema()) || '.audit_events')), \
                         false)",
    )
    .fetch_one(pool)
    .await
    .map_err(map_sqlx)?;
    Ok(RolePosture {
        role,
        superuser,
        owns_audit_table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        check_role_name("countersign_app").unwrap();
        check_role_name("_x9").unwrap();
        for bad in ["", "9x", "App", "a-b", "a\"b", "a;b", &"x".repeat(64)] {
            assert!(check_role_name(bad).is_err(), "{bad:?}");
        }
        assert!(runtime_grants_sql("x\"; DROP TABLE votes; --", "public").is_err());
        let sql = runtime_grants_sql("countersign_app", "public").unwrap();
        assert!(sql.contains("REVOKE UPDATE, DELETE ON \"public\".audit_events"));
    }
}
