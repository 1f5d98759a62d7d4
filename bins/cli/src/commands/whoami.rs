//! `countersign whoami`: the principal behind the key, its roles and permissions.

use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::{self, field, list, Fields};

pub async fn run(ctx: &Ctx) -> Result<(), CliError> {
    let answer = ctx.client.get("/api/v1/auth/whoami").await?;
    if ctx.json {
        output::print_raw_json(&answer.body);
        return Ok(());
    }
    let v = answer.json()?;
    let p = &v["principal"];
    let mut f = Fields::new();
    f.add(
        "principal",
        format!(
            "{} ({}, {})",
            field(p, "name"),
            field(p, "id"),
            field(p, "kind")
        ),
    )
    .add("key", field(&v, "key_id"))
    .add("server", ctx.client.base_url())
    .add("roles", list(&v["roles"]))
    .add("permissions", list(&v["permissions"]));
    output::print(&f.render());
    Ok(())
}
