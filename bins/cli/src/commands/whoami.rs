//! `countersign whoami`: the principal behind the key, its roles and permissions.

use countersign_api::WhoAmI;

use crate::commands::{print_answer, Ctx};
use crate::error::CliError;
use crate::output::Fields;

pub async fn run(ctx: &Ctx) -> Result<(), CliError> {
    let answer = ctx.client.get("/api/v1/auth/whoami").await?;
    print_answer(ctx, &answer, |w: &WhoAmI| render(w, ctx.client.base_url()))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

fn render(w: &WhoAmI, server: &str) -> String {
    let p = &w.principal;
    let mut f = Fields::new();
    f.add("principal", format!("{} ({}, {})", p.name, p.id, p.kind))
        .add(
            "key",
            w.key_id
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_else(|| "-".to_owned()),
        )
        .add("server", server)
        .add("roles", list(&w.roles))
        .add("permissions", list(&w.permissions));
    f.render()
}
