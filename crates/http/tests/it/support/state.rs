//! What a refused request must leave unchanged, read straight from the tables: row counts with
//! job and approval states, and every identity fact.

use super::TestApp;

impl TestApp {
    /// Row counts of every table a request might write, to prove a refused request wrote
    /// nothing.
    pub async fn snapshot(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for t in [
            "principals",
            "principal_roles",
            "api_keys",
            "roles",
            "role_permissions",
            "policies",
            "policy_rules",
            "subjects",
            "jobs",
            "approvals",
            "votes",
            "outbox_messages",
            "webhooks",
            "webhook_deliveries",
        ] {
            let n = self.db.count(t).await;
            out.push((t.to_owned(), n));
        }
        let jobs: Vec<String> = self
            .db
            .column(
                "SELECT id || ':' || status || ':' || attempts FROM jobs ORDER BY id",
                &[],
            )
            .await;
        out.push((format!("jobs-state {}", jobs.join(",")), 0));
        let approvals: Vec<String> = self
            .db
            .column("SELECT id || ':' || state FROM approvals ORDER BY id", &[])
            .await;
        out.push((format!("approvals-state {}", approvals.join(",")), 0));
        out
    }

    /// Every identity fact a request might change — principals (and whether disabled), role
    /// assignments, keys (and whether revoked), roles (description, generation) and their
    /// permissions — as sorted lines, to prove a refused auth request changed nothing even
    /// where [`TestApp::snapshot`]'s row counts would not notice.
    pub async fn auth_state(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (table, sql) in [
            ("principal", "SELECT id || ' ' || name || ' disabled=' || disabled FROM principals"),
            ("assignment", "SELECT principal_id || ' ' || role_id FROM principal_roles"),
            (
                "key",
                "SELECT id || ' ' || principal_id || ' revoked=' || (revoked_at IS NOT NULL) || ' expires=' || coalesce(CAST(expires_at AS TEXT), '-') FROM api_keys",
            ),
            ("role", "SELECT id || ' gen=' || generation || ' builtin=' || builtin || ' ' || description FROM roles"),
            ("permission", "SELECT role_id || ' ' || permission FROM role_permissions"),
        ] {
            let mut rows: Vec<String> = self.db.column(sql, &[]).await;
            rows.sort();
            out.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
        }
        out
    }
}
