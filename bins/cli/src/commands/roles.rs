//! `countersign roles create|list|show|grant|revoke|assign|unassign`: roles, the permissions
//! they carry, and who holds them.

use std::collections::BTreeSet;

use clap::Subcommand;
use countersign_api::domain::{Permission, Role, RoleId};
use countersign_api::requests::{AssignRoleBody, CreateRoleBody, GrantPermissionBody};
use countersign_api::PrincipalView;
use reqwest::Method;

use crate::client::{encode, Query};
use crate::commands::people::resolve;
use crate::commands::{body, fetch_list, item_path, print_answer, Ctx, Paging};
use crate::error::CliError;
use crate::output::{Fields, Table};

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Create a custom role.
    Create {
        /// Its id: lower case letters, digits, `.`, `_`, `-`.
        id: RoleId,
        /// What the role is for.
        #[arg(long, default_value = "")]
        description: String,
        /// A permission it grants (repeat the flag for more), e.g. `approval.approve`.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<Permission>,
    },
    /// List roles (built-in and custom) with their permissions.
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// One role with its permissions.
    Show {
        /// The role id.
        id: RoleId,
    },
    /// Add a permission to a role.
    Grant { id: RoleId, permission: Permission },
    /// Remove a permission from a role.
    Revoke { id: RoleId, permission: Permission },
    /// Give a principal a role.
    Assign {
        /// The role id.
        role: RoleId,
        /// A principal name or id (`prn_…`).
        who: String,
    },
    /// Take a role from a principal.
    Unassign {
        /// The role id.
        role: RoleId,
        /// A principal name or id (`prn_…`).
        who: String,
    },
}

pub async fn run(ctx: &Ctx, command: RolesCommand) -> Result<(), CliError> {
    match command {
        RolesCommand::Create {
            id,
            description,
            permissions,
        } => {
            let b = body(&CreateRoleBody {
                id,
                description,
                permissions: permissions.into_iter().collect::<BTreeSet<_>>(),
            });
            let answer = ctx.client.post("/api/v1/auth/roles", &b).await?;
            print_answer(ctx, &answer, |r: &Role| {
                format!("created role {}\n{}", r.id, render(r))
            })
        }
        RolesCommand::List { paging } => {
            let listing = fetch_list(ctx, "/api/v1/auth/roles", Query::new(), &paging).await?;
            if ctx.json {
                listing.print_json();
                return Ok(());
            }
            let mut t = Table::new(&["ROLE", "BUILT-IN", "PERMISSIONS", "DESCRIPTION"]);
            for r in listing.parse::<Role>()? {
                t.row(vec![
                    r.id.to_string(),
                    if r.builtin { "yes" } else { "no" }.to_owned(),
                    permissions(&r),
                    r.description.clone(),
                ]);
            }
            listing.print_table(&t, "roles");
            Ok(())
        }
        RolesCommand::Show { id } => {
            let answer = ctx.client.get(&role_path(&id, "")).await?;
            print_answer(ctx, &answer, render)
        }
        RolesCommand::Grant { id, permission } => {
            let b = body(&GrantPermissionBody { permission });
            let answer = ctx.client.post(&role_path(&id, "/permissions"), &b).await?;
            print_answer(ctx, &answer, render)
        }
        RolesCommand::Revoke { id, permission } => {
            let path = role_path(
                &id,
                &format!("/permissions/{}", encode(permission.as_str())),
            );
            let answer = ctx.client.call(Method::DELETE, &path, None, &[]).await?;
            print_answer(ctx, &answer, render)
        }
        RolesCommand::Assign { role, who } => {
            let id = resolve(ctx, &who).await?;
            let b = body(&AssignRoleBody { role });
            let answer = ctx
                .client
                .post(&item_path("auth/principals", &id, "/roles"), &b)
                .await?;
            print_answer(ctx, &answer, holder)
        }
        RolesCommand::Unassign { role, who } => {
            let id = resolve(ctx, &who).await?;
            let path = item_path(
                "auth/principals",
                &id,
                &format!("/roles/{}", encode(role.as_str())),
            );
            let answer = ctx.client.call(Method::DELETE, &path, None, &[]).await?;
            print_answer(ctx, &answer, holder)
        }
    }
}

fn role_path(id: &RoleId, suffix: &str) -> String {
    item_path("auth/roles", id.as_str(), suffix)
}

fn permissions(r: &Role) -> String {
    if r.permissions.is_empty() {
        "-".to_owned()
    } else {
        r.permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A principal's roles after an assignment.
fn holder(p: &PrincipalView) -> String {
    let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
    format!(
        "{} now holds: {}\n",
        p.principal.name,
        if roles.is_empty() {
            "no role".to_owned()
        } else {
            roles.join(", ")
        }
    )
}

/// The full view of one role.
fn render(r: &Role) -> String {
    let mut f = Fields::new();
    f.add("role", r.id.to_string())
        .add("built-in", if r.builtin { "yes" } else { "no" })
        .add("description", r.description.clone())
        .add("permissions", permissions(r))
        .add("generation", r.generation.to_string());
    f.render()
}
