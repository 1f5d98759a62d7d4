//! `countersign-scheduler`: parse configuration, set up tracing, open the database, and run
//! the background loops (approval expiry, lease reclaim) until SIGTERM — or once with
//! `--once`. It serves `/healthz` and `/metrics` on `COUNTERSIGN_SCHEDULER_LISTEN`.

use anyhow::Context;
use clap::Parser;
use countersign_config::process::{init_tracing, shutdown_signal};
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
    let db = Database::open(&url, cli.config.database.database_max_connections.min(4))
        .await
        .with_context(|| format!("opening {url}"))?;
    if cli.config.auto_migrate {
        db.migrate().await.context("applying migrations")?;
    }
    let service = Service::new(db.store(), cli.config.service());

    if cli.config.once {
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
    let loops = {
        let mut rx = stop_rx;
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let service = service.clone();
        let tick = cli.config.tick;
        tokio::spawn(async move { service.run_scheduler(tick, stop).await })
    };
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    loops.await.context("scheduler loop panicked")?;
    ops.await.context("ops server panicked")??;
    Ok(())
}
