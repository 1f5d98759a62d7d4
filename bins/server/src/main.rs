//! `countersign-server`: parse configuration, set up tracing, open the database, and hand
//! over to the library (`countersign_http::serve`). Subcommands: `serve` (the default),
//! `migrate`, `db grant-runtime` (the PostgreSQL runtime role), `log keygen` (the transparency
//! log's signing key, written to a file), `keys create` for
//! bootstrapping an empty database, and `keys list` / `keys revoke` for operators locked out
//! of the API (audited as `system:bootstrap`).
//!
//! `serve` listens at once: while the database is unreachable it answers `/healthz` 200 and
//! `/readyz` 503, and retries migrations and the first-admin bootstrap with backoff.

use anyhow::Context;
use clap::{Parser, Subcommand};
use countersign_config::process::{init_tracing, shutdown_signal};
use countersign_config::startup::{self, retry_unavailable, service_unavailable};
use countersign_config::{Database, DatabaseUrl, ServerConfig};
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
    /// Apply pending database migrations and exit (as `COUNTERSIGN_MIGRATE_DATABASE_URL`'s
    /// role when set: the schema's owner).
    Migrate,
    /// Database roles (PostgreSQL).
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Manage API keys without the API (bootstrap, lock-out recovery).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The transparency log's signing key.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Generate the log's signing key: write it to a new file (mode 0600) for the scheduler's
    /// COUNTERSIGN_LOG_SIGNING_KEY_FILE, and print the verifier key (for
    /// COUNTERSIGN_LOG_VERIFIER_KEY and for auditors) on stdout.
    Keygen {
        /// The log's name (its checkpoints' origin line), e.g. `countersign.example.com/log`.
        #[arg(long)]
        origin: String,
        /// Where to write the signing key; an existing file is never overwritten.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Create (if missing) the role the service runs as, owning nothing, and grant it exactly
    /// what the service needs (the audit table: SELECT and INSERT only). Idempotent: run it
    /// again after every migration. Connects as the owner (COUNTERSIGN_MIGRATE_DATABASE_URL,
    /// else COUNTERSIGN_DATABASE_URL).
    GrantRuntime {
        /// The runtime role's name.
        #[arg(long, default_value = "countersign_app")]
        role: String,
        /// Print the SQL on stdout instead of running it.
        #[arg(long)]
        print: bool,
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
    let migrate_url = cli.config.database.migrate_url()?;
    tracing::debug!(config = ?cli.config, database = %url, "configuration");
    if let Some(path) = url.sqlite_path() {
        tracing::info!(database.path = %path.display(), "SQLite database file");
    }
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Log {
        command: LogCommand::Keygen { origin, out },
    } = &command
    {
        let verifier = countersign_config::log::keygen(origin, out)?;
        println!("{verifier}");
        tracing::info!(log.key_file = %out.display(), "log signing key written");
        return Ok(());
    }
    if let Command::Serve = command {
        return serve(&cli.config, url, migrate_url).await;
    }
    if let Command::Migrate = command {
        let db = Database::open(&migrate_url, 1)
            .await
            .with_context(|| format!("opening {migrate_url}"))?;
        db.migrate().await.context("applying migrations")?;
        tracing::info!("migrations applied");
        return Ok(());
    }
    if let Command::Db {
        command: DbCommand::GrantRuntime { role, print },
    } = command
    {
        return grant_runtime(&migrate_url, &role, print).await;
    }
    let db = Database::open(&url, cli.config.database.database_max_connections)
        .await
        .with_context(|| format!("opening {url}"))?;
    let service = || Service::new(db.store(), cli.config.service());

    match command {
        Command::Serve | Command::Migrate | Command::Db { .. } | Command::Log { .. } => {
            unreachable!("handled above")
        }
        Command::Keys { command } => match command {
            KeysCommand::Create {
                principal,
                role,
                kind,
                expires_at,
            } => {
                startup::migrate(&db, &url, &migrate_url)
                    .await
                    .context("applying migrations")?;
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

/// `serve`: listen at once, and get the database ready (migrations as the owner, the first
/// admin) in the background, retrying with backoff while it is unreachable. Until then
/// `/readyz` answers 503.
async fn serve(
    config: &ServerConfig,
    url: DatabaseUrl,
    migrate_url: DatabaseUrl,
) -> anyhow::Result<()> {
    let db = Database::open_lazy(&url, config.database.database_max_connections)
        .await
        .with_context(|| format!("opening {url}"))?;
    let mut service = Service::new(db.store(), config.service());
    if let Some(verifier) = config.log.verifier()? {
        tracing::info!(log.key = %verifier.verifier_key(), "transparency log key");
        service = service.with_log_verifier(verifier);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(listen = %config.listen, "listening; /readyz answers 503 until the database is ready");
    let prepare = {
        let service = service.clone();
        let (auto_migrate, bootstrap_admin) = (config.auto_migrate, config.bootstrap_admin);
        async move {
            let ready = retry_unavailable("starting", service_unavailable, || async {
                if auto_migrate {
                    startup::migrate(&db, &url, &migrate_url).await?;
                }
                if bootstrap_admin {
                    if let Some(done) = service.bootstrap_first_admin().await? {
                        announce_first_admin(&done);
                    }
                }
                service.readiness().await
            })
            .await;
            match ready {
                Ok(()) => {
                    startup::check_role_posture(&service).await;
                    tracing::info!(database = %url, "database ready");
                }
                Err(e) => {
                    let e = anyhow::Error::from(e);
                    tracing::error!(
                        error = format!("{e:#}"),
                        "the database could not be prepared; stopping"
                    );
                    std::process::exit(1);
                }
            }
        }
    };
    tokio::spawn(prepare);
    countersign_http::serve(listener, service, config.http(), shutdown_signal()).await?;
    Ok(())
}

/// `db grant-runtime`: print or apply the runtime role's grants, connected as the owner.
async fn grant_runtime(owner_url: &DatabaseUrl, role: &str, print: bool) -> anyhow::Result<()> {
    let db = Database::open(owner_url, 1)
        .await
        .with_context(|| format!("opening {owner_url}"))?;
    let Database::Postgres(pg) = &db else {
        anyhow::bail!(
            "database roles are a PostgreSQL feature; SQLite has none (protect the file instead)"
        );
    };
    if print {
        let schema = countersign_postgres::privileges::current_schema(pg.pool()).await?;
        print!(
            "{}",
            countersign_postgres::runtime_grants_sql(role, &schema)?
        );
        return Ok(());
    }
    countersign_postgres::grant_runtime(pg.pool(), role)
        .await
        .with_context(|| format!("granting the runtime role `{role}`"))?;
    tracing::info!(database.role = %role, "runtime role granted");
    println!(
        "granted `{role}`; run the service with a COUNTERSIGN_DATABASE_URL that logs in as `{role}` \
         (set its password with ALTER ROLE), and migrate with COUNTERSIGN_MIGRATE_DATABASE_URL"
    );
    Ok(())
}

/// On a database that had no enabled admin, print the one just minted — once — with how to
/// make more. The key goes to stdout only; the log line names the principal, never the key.
fn announce_first_admin(done: &countersign_service::principals::Bootstrapped) {
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
