//! The transparency log's sequencer: a scheduler step that turns queued audit events into
//! leaves, hash tiles and signed checkpoints.
//!
//! One batch is one transaction (the model of Tessera's sequencer): take the sequencer's turn
//! (`LogRepo::lead_log`: a transaction-level advisory lock on PostgreSQL, the write lock on
//! SQLite), read the tree's head, take up to `log_batch` queued events oldest first (their
//! queue positions and ids), compute their leaves (the RFC 8785 canonical JSON of each event
//! as the API serves it), integrate them into the tiled tree, store the leaves and every new
//! or wider tile, advance the head, remove the events from the queue and, when one is due,
//! sign a checkpoint. Commit. A sequencer killed anywhere in between leaves nothing behind:
//! the queue still holds the events and the next batch (on any replica) starts from the same
//! head. Nothing is sequenced twice (the turn is exclusive, the head moves by
//! compare-and-set, and an event is a leaf at most once in the database), and nothing is
//! skipped: an event is queued in the transaction that stores it, so a transaction that
//! commits late is sequenced by a later batch.
//!
//! The leaves' hashes come with the queue: every append stores each event's leaf hash
//! (`AuditEvent::leaf_hash`, the RFC 6962 hash of its RFC 8785 canonical JSON) beside it, and
//! the database's queue trigger copies it into the queue (Tessera's model: an entry is hashed
//! when it is added; integration handles hashes only). A batch therefore reads no bodies. An
//! event queued without a hash (stored before the column existed) has its body read and hashed
//! in the batch, on blocking threads while the database stores the leaf rows. What the log
//! commits to is what the writer stored; the self-check (`log_self_check`) re-hashes the stored
//! bodies against the sealed leaves, so a body changed after it was written is caught there.
//!
//! A checkpoint is signed when none exists yet, or when the tree has grown and either
//! `log_checkpoint_leaves` leaves were added or `log_checkpoint_interval` passed since the
//! last one.
//!
//! The signing key never touches the database: the scheduler loads it from a file
//! (`COUNTERSIGN_LOG_SIGNING_KEY_FILE`) and passes it in with [`Service::with_log_signer`];
//! without it there is no sequencer.

use countersign_domain::{clock, AuditEvent, EventId};
use countersign_store::{LogHead, StoredCheckpoint, StoredTile};
use countersign_tlog::leaf::event_leaf_hash;
use countersign_tlog::tiled::integrate;
use countersign_tlog::{Checkpoint, Hash, LogSigner};
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::error::{ServiceError, ServiceResult};
use crate::log_tiles::{edge_tiles, with_store_tiles};
use crate::metrics;
use crate::service::Service;

/// What one sequencing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequenceReport {
    /// Leaves added.
    pub leaves: u64,
    /// Checkpoints signed.
    pub checkpoints: u64,
    /// The tree's size after the pass.
    pub tree_size: u64,
    /// Another sequencer held the turn, so this pass stopped early.
    pub yielded: bool,
}

/// What one batch did.
enum Batch {
    /// Another transaction is sequencing.
    Busy,
    /// Sequenced `leaves` events (maybe 0) and signed `checkpoint` or not.
    Done {
        leaves: u64,
        checkpoint: bool,
        size: u64,
    },
}

/// Start computing the leaf hashes of `events` on blocking threads, one chunk per core.
fn spawn_leaf_hashes(events: Vec<AuditEvent>) -> Vec<JoinHandle<Vec<Hash>>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let chunk = events.len().div_ceil(cores).max(1);
    let mut tasks = Vec::with_capacity(cores);
    let mut rest = events;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        let part = std::mem::replace(&mut rest, tail);
        tasks.push(tokio::task::spawn_blocking(move || {
            part.iter().map(event_leaf_hash).collect::<Vec<Hash>>()
        }));
    }
    tasks
}

/// The hashes of [`spawn_leaf_hashes`], in order.
async fn join_leaf_hashes(tasks: Vec<JoinHandle<Vec<Hash>>>) -> ServiceResult<Vec<Hash>> {
    let mut out = Vec::new();
    for task in tasks {
        out.extend(task.await.map_err(internal)?);
    }
    Ok(out)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string().into())
}

impl Service {
    /// This service, sequencing the log and signing its checkpoints with `signer` (the
    /// scheduler's). The server needs only the verifier key.
    pub fn with_log_signer(mut self, signer: LogSigner) -> Self {
        if self.log_verifier.is_none() {
            self.log_verifier = Some(std::sync::Arc::new(signer.verifier()));
        }
        self.log_signer = Some(std::sync::Arc::new(signer));
        self
    }

    /// Sequence every queued event, batch by batch, until the queue is empty or another
    /// sequencer holds the turn. Without a signing key this does nothing.
    pub async fn sequence_log(&self) -> ServiceResult<SequenceReport> {
        let Some(signer) = self.log_signer.clone() else {
            return Ok(SequenceReport::default());
        };
        let mut report = SequenceReport::default();
        loop {
            match self.sequence_batch(&signer).await? {
                Batch::Busy => {
                    report.yielded = true;
                    return Ok(report);
                }
                Batch::Done {
                    leaves,
                    checkpoint,
                    size,
                } => {
                    report.leaves += leaves;
                    report.checkpoints += u64::from(checkpoint);
                    report.tree_size = size;
                    if leaves < u64::from(self.config.log_batch) {
                        return Ok(report);
                    }
                }
            }
        }
    }

    /// One batch, in one transaction (see the module docs).
    async fn sequence_batch(&self, signer: &LogSigner) -> ServiceResult<Batch> {
        let mut tx = self.begin().await?;
        if !tx.lead_log().await? {
            tx.rollback().await?;
            return Ok(Batch::Busy);
        }
        let head = tx.log_head().await?;
        let queue = tx.log_queue(self.config.log_batch).await?;
        let last = tx.latest_log_checkpoint().await?;
        let now = clock::now();
        let new_size = head.size + queue.len() as u64;
        let any = !queue.is_empty();
        let checkpoint_due = self.checkpoint_due(last.as_ref(), new_size, now);
        if !any && !checkpoint_due {
            tx.rollback().await?;
            return Ok(Batch::Done {
                leaves: 0,
                checkpoint: false,
                size: head.size,
            });
        }
        let new_head = if !any {
            head
        } else {
            // Events queued without a hash are read now and hashed on blocking threads while
            // the database stores the leaf rows and empties the queue: the two do not depend
            // on each other.
            let mut hashes: Vec<Option<Hash>> =
                queue.iter().map(|q| q.leaf_hash.map(Hash)).collect();
            let missing: Vec<usize> = (0..queue.len()).filter(|&i| hashes[i].is_none()).collect();
            let computing = if missing.is_empty() {
                Vec::new()
            } else {
                let ids: Vec<EventId> = missing.iter().map(|&i| queue[i].event_id).collect();
                let events = tx.log_events(&ids).await?;
                if events.len() != ids.len() {
                    return Err(internal(format!(
                        "{} of {} queued events are stored",
                        events.len(),
                        ids.len()
                    )));
                }
                spawn_leaf_hashes(events)
            };
            let ids: Vec<EventId> = queue.iter().map(|q| q.event_id).collect();
            tx.append_log_leaves(head.size, &ids).await?;
            tx.remove_pending_log_events(&queue).await?;
            for (i, h) in missing.iter().zip(join_leaf_hashes(computing).await?) {
                hashes[*i] = Some(h);
            }
            let hashes: Vec<Hash> = hashes
                .into_iter()
                .collect::<Option<_>>()
                .ok_or_else(|| internal("a queued event has no leaf hash"))?;
            let old_root = Hash(head.root);
            let integration = with_store_tiles(tx.as_mut(), &edge_tiles(head.size), |tiles| {
                integrate(tiles, head.size, old_root, &hashes)
            })
            .await?
            .map_err(|e| internal(format!("integrating {} leaves: {e}", hashes.len())))?;
            let tiles: Vec<StoredTile> = integration
                .tiles
                .into_iter()
                .map(|(t, hashes)| StoredTile {
                    level: t.level,
                    index: t.index,
                    width: t.width,
                    hashes,
                })
                .collect();
            tx.put_log_tiles(&tiles).await?;
            let new_head = LogHead {
                size: integration.size,
                root: integration.root.0,
            };
            if !tx.advance_log_head(head.size, &new_head, now).await? {
                return Err(internal("the log head moved under the sequencer's turn"));
            }
            tracing::trace!(
                log.leaves = queue.len(),
                log.hashed_here = missing.len(),
                "log batch leaves computed"
            );
            new_head
        };
        if checkpoint_due {
            let body = Checkpoint::new(signer.name(), new_head.size, Hash(new_head.root));
            let note = signer.sign_checkpoint(&body).map_err(internal)?;
            tx.insert_log_checkpoint(&StoredCheckpoint {
                size: new_head.size,
                root: new_head.root,
                note,
                created_at: now,
            })
            .await?;
        }
        tx.commit().await?;
        let leaves = new_head.size - head.size;
        metrics::log_sequenced(leaves, new_head.size, checkpoint_due);
        if leaves > 0 || checkpoint_due {
            tracing::debug!(
                log.leaves = leaves,
                log.tree_size = new_head.size,
                log.checkpoint = checkpoint_due,
                "log batch sequenced"
            );
        }
        Ok(Batch::Done {
            leaves,
            checkpoint: checkpoint_due,
            size: new_head.size,
        })
    }

    /// Whether a checkpoint of the tree of `size` leaves is due after `last`.
    fn checkpoint_due(
        &self,
        last: Option<&StoredCheckpoint>,
        size: u64,
        now: OffsetDateTime,
    ) -> bool {
        let Some(last) = last else {
            return true;
        };
        if size <= last.size {
            return false;
        }
        let interval = time::Duration::try_from(self.config.log_checkpoint_interval)
            .unwrap_or(time::Duration::MAX);
        size - last.size >= self.config.log_checkpoint_leaves || now - last.created_at >= interval
    }
}

impl Service {
    /// One sequencing pass, logged and counted, then the queue-depth gauge; a failure is
    /// retried on the next tick. Nothing without a signing key.
    pub async fn run_log_sequencer_once(&self) {
        if self.log_signer.is_none() {
            return;
        }
        match self.sequence_log().await {
            Ok(report) => {
                metrics::scheduler_run("log_sequencer", true);
                if report.leaves > 0 {
                    tracing::info!(
                        log.leaves = report.leaves,
                        log.tree_size = report.tree_size,
                        log.checkpoints = report.checkpoints,
                        "log sequenced"
                    );
                }
            }
            Err(e) => {
                metrics::scheduler_run("log_sequencer", false);
                tracing::warn!(error = %e, "log sequencing failed; retrying next tick");
            }
        }
        if let Ok(mut tx) = self.begin().await {
            if let Ok(n) = tx.pending_log_count().await {
                metrics::log_pending(n);
            }
            let _ = tx.rollback().await;
        }
    }

    /// One self-check window, logged and counted; a failure is retried on the next tick.
    pub async fn run_log_self_check_once(&self) {
        match self.self_check_log().await {
            Ok(_) => metrics::scheduler_run("log_self_check", true),
            Err(e) => {
                metrics::scheduler_run("log_self_check", false);
                tracing::warn!(error = %e, "log self-check failed; retrying next tick");
            }
        }
    }
}
