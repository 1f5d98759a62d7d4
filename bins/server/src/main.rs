//! `countersign-server`: parse configuration, set up tracing, open the database, and hand
//! over to the library (`countersign_http::serve`). Subcommands: `serve` (the default),
//! `migrate`, `keys create` for bootstrapping an empty database, and `keys list` /
//! `keys revoke` for operators locked out of the API (audited as `system:bootstrap`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use countersign_config::process::{init_tracing, shutdown_signal};
use countersign_config::{Database, ServerConfig};
use countersign_domain::{KeyId, PrincipalKind, RoleId};
use countersign_service::keys::OperatorKeyRow;
use countersign_service::Service;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Parser)]
#[command(
    name = "countersign-server",
    version,
    about = "Countersign two-person approval and audit API server"
)]
struct Cli {
    #[command(flatten)]
    config: ServerConfig,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API keys without the API (bootstrap, lock-out recovery).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key for a principal (creating the principal if needed) and print it on stdout.
    Create {
        /// The principal's name.
        #[arg(long)]
        principal: String,
        /// A role to give the principal (e.g. `admin`).
        #[arg(long)]
        role: Option<String>,
        /// `user` or `service`, when the principal is created.
        #[arg(long, default_value = "user")]
        kind: String,
        /// When the key stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List keys (never their secrets), newest first, as a table on stdout.
    List {
        /// Only this principal's keys (by name).
        #[arg(long)]
        principal: Option<String>,
    },
    /// Revoke a key at once (its next request is refused).
    Revoke {
        /// The key id (`key_…`).
        key_id: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.config.validate()?;
    init_tracing(&cli.config.log_format);
    let url = cli.config.database.url()?;
    tracing::debug!(config = ?cli.config, database = %url, "configuration");
    let db = Database::open(&url, cli.config.database.database_max_connections)
        .await
        .with_context(|| format!("opening {url}"))?;
    let service = || Service::new(db.store(), cli.config.service());

    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            if cli.config.auto_migrate {
                db.migrate().await.context("applying migrations")?;
            }
            let service = service();
            if cli.config.bootstrap_admin {
                announce_first_admin(&service).await?;
            }
            tracing::info!(database = %url, "database ready");
            let listener = tokio::net::TcpListener::bind(cli.config.listen)
                .await
                .with_context(|| format!("binding {}", cli.config.listen))?;
            countersign_http::serve(listener, service, cli.config.http(), shutdown_signal())
                .await?;
        }
        Command::Migrate => {
            db.migrate().await.context("applying migrations")?;
            tracing::info!("migrations applied");
        }
        Command::Keys { command } => match command {
            KeysCommand::Create {
                principal,
                role,
                kind,
                expires_at,
            } => {
                db.migrate().await.context("applying migrations")?;
                let kind: PrincipalKind = kind.parse()?;
                let role = role.map(|r| RoleId::parse(&r)).transpose()?;
                let expires_at = expires_at
                    .map(|t| OffsetDateTime::parse(&t, &Rfc3339))
                    .transpose()
                    .context("--expires-at must be RFC 3339")?;
                let service = service();
                let done = service
                    .bootstrap_key(&principal, kind, role.as_ref(), expires_at)
                    .await?;
                tracing::info!(
                    principal.id = %done.principal.id,
                    key.id = %done.minted.key.id,
                    created_principal = done.created_principal,
                    "key created; it is shown once"
                );
                println!("{}", done.minted.token.expose());
            }
            KeysCommand::List { principal } => {
                let service = service();
                let rows = service.operator_list_keys(principal.as_deref()).await?;
                print!("{}", key_table(&rows));
            }
            KeysCommand::Revoke { key_id } => {
                let id: KeyId = key_id
                    .parse()
                    .with_context(|| format!("`{key_id}` is not a key id (key_…)"))?;
                let service = service();
                let key = service.operator_revoke_key(id).await?;
                tracing::info!(key.id = %id, principal.id = %key.key.principal_id, "key revoked");
                println!("revoked {id}");
            }
        },
    }
    Ok(())
}

/// On a database with no enabled admin, mint one and print its key — once — with how to make
/// more. The key goes to stdout only; the log line names the principal, never the key.
async fn announce_first_admin(service: &Service) -> anyhow::Result<()> {
    let Some(done) = service
        .bootstrap_first_admin()
        .await
        .context("creating the first admin")?
    else {
        return Ok(());
    };
    tracing::warn!(
        principal.id = %done.principal.id,
        principal.name = %done.principal.name,
        key.id = %done.minted.key.id,
        "no admin existed: created one; its key is printed once on stdout"
    );
    println!(
        "No admin existed, so `{name}` was created with the admin role.\n\
         Its API key is shown this once — store it now:\n\n    {key}\n\n\
         Make more keys with `countersign-server keys create --principal NAME --role ROLE`\n\
         (same database settings), or over the API as this admin.",
        name = done.principal.name,
        key = done.minted.token.expose(),
    );
    Ok(())
}

/// The `keys list` table: one key per line, columns aligned, never a secret.
fn key_table(rows: &[OperatorKeyRow]) -> String {
    let time = |t: Option<OffsetDateTime>| {
        t.and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut lines = vec![[
        "KEY_ID".to_owned(),
        "PRINCIPAL".to_owned(),
        "STATUS".to_owned(),
        "CREATED_AT".to_owned(),
        "EXPIRES_AT".to_owned(),
        "REVOKED_AT".to_owned(),
    ]];
    for r in rows {
        let k = &r.key.key;
        lines.push([
            k.id.to_string(),
            r.principal_name
                .as_ref()
                .map_or_else(|| k.principal_id.to_string(), ToString::to_string),
            r.key.status.as_str().to_owned(),
            time(Some(k.created_at)),
            time(k.expires_at),
            time(k.revoked_at),
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
