//! `countersign-scheduler`: parse configuration, set up tracing, open the database, and run
//! the background loops (approval expiry, lease reclaim) until SIGTERM — or once with
//! `--once`. It serves `/healthz`, `/readyz` and `/metrics` on `COUNTERSIGN_SCHEDULER_LISTEN`
//! from the start; while the database is unreachable it retries with backoff (`/readyz`
//! 503). It never creates a database: a missing SQLite file is an error naming the path.

use anyhow::Context;
use clap::Parser;
use countersign_config::process::{init_tracing, shutdown_signal};
use countersign_config::startup::{self, retry_unavailable, service_unavailable};
use countersign_config::{Database, SchedulerConfig};
use countersign_service::Service;

#[derive(Debug, Parser)]
#[command(
    name = "countersign-scheduler",
    version,
    about = "Countersign background loops: approval expiry and job lease reclaim"
)]
struct Cli {
    #[command(flatten)]
    config: SchedulerConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.config.validate()?;
    init_tracing(&cli.config.log_format);
    let url = cli.config.database.url()?;
    let migrate_url = cli.config.database.migrate_url()?;
    // The scheduler works on the server's database and never creates one.
    if let Some(path) = url.sqlite_path() {
        if !path.exists() {
            anyhow::bail!(
                "the SQLite database {path} does not exist, and the scheduler never creates one: \
                 start `countersign-server` first (it creates the file), and give the scheduler \
                 the same COUNTERSIGN_DATABASE_URL, e.g. sqlite://{path}?mode=rwc",
                path = path.display()
            );
        }
        tracing::info!(database.path = %path.display(), "SQLite database file");
    }
    let db = Database::open_lazy(&url, cli.config.database.database_max_connections.min(4))
        .await
        .with_context(|| format!("opening {url}"))?;
    let transport =
        countersign_http::webhook_transport().context("building the webhook HTTP client")?;
    let mut service =
        Service::new(db.store(), cli.config.service()).with_webhook_transport(transport);
    match cli.config.log.signer()? {
        Some(signer) => {
            tracing::info!(log.key = %signer.verifier_key(), "transparency log: sequencing and signing");
            service = service.with_log_signer(signer);
        }
        None => tracing::warn!(
            "COUNTERSIGN_LOG_SIGNING_KEY_FILE is not set: the transparency log is not sequenced \
             (create a key with `countersign-server log keygen`)"
        ),
    }
    // `--once` (a cron job) fails at once on an unreachable database; the long-running
    // scheduler waits for it.
    let prepare = {
        let service = service.clone();
        let auto_migrate = cli.config.auto_migrate;
        let once = cli.config.once;
        async move {
            let retry = |e: &countersign_service::ServiceError| !once && service_unavailable(e);
            retry_unavailable("starting", retry, || async {
                if auto_migrate {
                    startup::migrate(&db, &url, &migrate_url).await?;
                }
                service.readiness().await
            })
            .await?;
            startup::check_role_posture(&service).await;
            anyhow::Ok(())
        }
    };

    if cli.config.once {
        prepare.await.context("preparing the database")?;
        let report = service.run_scheduler_once().await?;
        tracing::info!(
            scheduler.approvals_expired = report.approvals_expired,
            scheduler.leases_reclaimed = report.leases_reclaimed,
            scheduler.jobs_failed = report.jobs_failed,
            "scheduler ran once"
        );
        return Ok(());
    }

    let listener = tokio::net::TcpListener::bind(cli.config.listen)
        .await
        .with_context(|| format!("binding {}", cli.config.listen))?;
    tracing::info!(listen = %cli.config.listen, tick = ?cli.config.tick, "countersign scheduler running");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ops_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let ops = tokio::spawn(countersign_http::serve_ops(
        listener,
        service.clone(),
        ops_stop,
    ));
    // The loops start once the database is ready (retried with backoff while it is
    // unreachable; `/readyz` answers 503 meanwhile).
    let loops = {
        let mut rx = stop_rx;
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let service = service.clone();
        let tick = cli.config.tick;
        tokio::spawn(async move {
            tokio::pin!(stop);
            tokio::select! {
                _ = &mut stop => return,
                ready = prepare => if let Err(e) = ready {
                    tracing::error!(error = format!("{e:#}"), "the database could not be prepared; stopping");
                    std::process::exit(1);
                },
            }
            service.run_scheduler(tick, stop).await
        })
    };
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    loops.await.context("scheduler loop panicked")?;
    ops.await.context("ops server panicked")??;
    Ok(())
}
