//! The transparency log's reads: the signed checkpoint, the verifier key, hash tiles, entry
//! bundles, an event's inclusion proof and consistency proofs.
//!
//! Reading the log needs `log.read`. With `log_public` (`COUNTERSIGN_LOG_PUBLIC=true`) the
//! checkpoint, the key and the hash tiles are readable without a key, for external monitors;
//! entry bundles (which hold the events) and proofs never are. Every proof is computed from
//! the stored tiles, each authenticated against the signed checkpoint's root before use, so a
//! tile edited in the database fails the request instead of being served as proof.

use std::sync::Arc;

use countersign_api::{ConsistencyProof, EventProof};
use countersign_domain::{EventId, Permission, Resource};
use countersign_store::{StoredCheckpoint, Transaction};
use countersign_tlog::bundle::{encode_entry_bundle, MAX_LEAF_LEN};
use countersign_tlog::leaf::event_leaf;
use countersign_tlog::proof::encode_proof;
use countersign_tlog::tiled::TiledTree;
use countersign_tlog::{EntryBundleId, Hash, LogVerifier, TileId, TlogProof, TILE_HEIGHT};

use crate::caller::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::log_tiles::{edge_tiles, with_store_tiles};
use crate::service::Service;

/// An event's inclusion proof, as JSON and as a C2SP `tlog-proof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventProofAnswer {
    pub json: EventProof,
    /// The `c2sp.org/tlog-proof@v1` text.
    pub text: String,
}

/// Whether a log read may be answered without a key when the log is public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exposure {
    /// Checkpoint, key, hash tiles.
    PublicWhenConfigured,
    /// Entry bundles, proofs.
    KeyAlways,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string().into())
}

/// The tiles on the path from leaf `index` up, in a tree of `size` leaves.
fn path_tiles(index: u64, size: u64) -> Vec<(u8, u64)> {
    let mut out = edge_tiles(size);
    let mut level = 0u8;
    let mut i = index >> TILE_HEIGHT;
    let mut n = size >> TILE_HEIGHT;
    loop {
        out.push((level, i));
        if n == 0 {
            return out;
        }
        i >>= TILE_HEIGHT;
        n >>= TILE_HEIGHT;
        level += 1;
    }
}

impl Service {
    /// This service, answering `GET /api/v1/log/key` with `verifier` and checking the
    /// checkpoints it serves against it (the server's; the scheduler derives it from its
    /// signing key).
    pub fn with_log_verifier(mut self, verifier: LogVerifier) -> Self {
        self.log_verifier = Some(Arc::new(verifier));
        self
    }

    /// Whether `COUNTERSIGN_LOG_PUBLIC` opens the checkpoint, key and hash tiles to anyone.
    pub fn log_is_public(&self) -> bool {
        self.config.log_public
    }

    async fn require_log_read(
        &self,
        caller: Option<&Caller>,
        exposure: Exposure,
        resource: Resource,
    ) -> ServiceResult<()> {
        if exposure == Exposure::PublicWhenConfigured && self.config.log_public {
            return Ok(());
        }
        match caller {
            Some(caller) => self.require(caller, Permission::LogRead, resource).await,
            None => Err(ServiceError::Unauthenticated(
                "reading the log needs a key with `log.read`",
            )),
        }
    }

    /// The newest checkpoint, checked against the verifier key when one is configured.
    async fn latest_checkpoint(&self, tx: &mut dyn Transaction) -> ServiceResult<StoredCheckpoint> {
        let checkpoint = tx
            .latest_log_checkpoint()
            .await?
            .ok_or(ServiceError::NotFound("log checkpoint"))?;
        self.check_signed(&checkpoint)?;
        Ok(checkpoint)
    }

    fn check_signed(&self, checkpoint: &StoredCheckpoint) -> ServiceResult<()> {
        if let Some(verifier) = &self.log_verifier {
            let opened = verifier
                .open_checkpoint(checkpoint.note.as_bytes())
                .map_err(|e| {
                    internal(format!(
                        "the stored checkpoint of size {} does not verify with the configured \
                         log key: {e}",
                        checkpoint.size
                    ))
                })?;
            if opened.size != checkpoint.size || opened.root.0 != checkpoint.root {
                return Err(internal(format!(
                    "the stored checkpoint of size {} does not match its note",
                    checkpoint.size
                )));
            }
        }
        Ok(())
    }

    /// `GET /api/v1/log/checkpoint`: the newest signed checkpoint (a C2SP signed note).
    pub async fn log_checkpoint(&self, caller: Option<&Caller>) -> ServiceResult<String> {
        self.require_log_read(
            caller,
            Exposure::PublicWhenConfigured,
            Resource::new("log", "checkpoint"),
        )
        .await?;
        let mut tx = self.begin().await?;
        let checkpoint = self.latest_checkpoint(tx.as_mut()).await?;
        tx.commit().await?;
        Ok(checkpoint.note)
    }

    /// `GET /api/v1/log/key`: the verifier key in C2SP note-verifier form.
    pub async fn log_key(&self, caller: Option<&Caller>) -> ServiceResult<String> {
        self.require_log_read(
            caller,
            Exposure::PublicWhenConfigured,
            Resource::new("log", "key"),
        )
        .await?;
        self.log_verifier
            .as_ref()
            .map(|v| v.verifier_key())
            .ok_or(ServiceError::NotFound("log key (none is configured)"))
    }

    /// `GET /api/v1/log/tile/{L}/{N}[.p/{W}]`: a hash tile; `path` is what follows `tile/`.
    pub async fn log_tile(&self, caller: Option<&Caller>, path: &str) -> ServiceResult<Vec<u8>> {
        self.require_log_read(
            caller,
            Exposure::PublicWhenConfigured,
            Resource::new("log", "tile"),
        )
        .await?;
        let tile = TileId::parse(&format!("tile/{path}")).map_err(|_| {
            ServiceError::invalid(format!(
                "tile: `{path}` is not a C2SP hash tile path (<L>/<N>[.p/<W>])"
            ))
        })?;
        let mut tx = self.begin().await?;
        let stored = tx.log_tiles(&[(tile.level, tile.index)]).await?;
        tx.commit().await?;
        let len = tile.width as usize * 32;
        stored
            .into_iter()
            .find(|t| t.hashes.len() >= len)
            .map(|t| t.hashes[..len].to_vec())
            .ok_or(ServiceError::NotFound("log tile"))
    }

    /// `GET /api/v1/log/tile/entries/{N}[.p/{W}]`: an entry bundle (always needs a key);
    /// `path` is what follows `tile/entries/`. A leaf too long for a bundle is a 409 naming
    /// it.
    pub async fn log_entry_bundle(&self, caller: &Caller, path: &str) -> ServiceResult<Vec<u8>> {
        self.require_log_read(
            Some(caller),
            Exposure::KeyAlways,
            Resource::new("log", "entries"),
        )
        .await?;
        let bundle = EntryBundleId::parse(&format!("tile/entries/{path}")).map_err(|_| {
            ServiceError::invalid(format!(
                "entries: `{path}` is not a C2SP entry bundle path (<N>[.p/<W>])"
            ))
        })?;
        let start = bundle.first_leaf();
        let end = start + u64::from(bundle.width);
        let mut tx = self.begin().await?;
        let leaves = tx.log_leaf_events(start, end).await?;
        tx.commit().await?;
        if leaves.len() as u64 != end - start {
            return Err(ServiceError::NotFound("log entry bundle"));
        }
        let bytes: Vec<Vec<u8>> = leaves.iter().map(|l| event_leaf(&l.event)).collect();
        // Events enter at most MAX_LEAF_LEN long; one stored longer anyway (before that rule,
        // or behind the service's back) is named rather than failing the bundle opaquely.
        if let Some((leaf, len)) = leaves
            .iter()
            .zip(&bytes)
            .map(|(l, b)| (l, b.len()))
            .find(|(_, len)| *len > MAX_LEAF_LEN)
        {
            let id = leaf.event.event_id;
            return Err(ServiceError::Conflict(format!(
                "leaf {} (event {id}) is {len} bytes, more than the {MAX_LEAF_LEN} an entry \
                 bundle can hold: read the event with GET /api/v1/audit/{id} and prove it with \
                 GET /api/v1/audit/{id}/proof",
                leaf.index
            )));
        }
        encode_entry_bundle(&bytes).map_err(internal)
    }

    /// `GET /api/v1/audit/{event_id}/proof[?tree_size=N]`: the event's inclusion proof in the
    /// newest checkpoint's tree, or in the checkpoint of `tree_size` leaves.
    pub async fn audit_event_proof(
        &self,
        caller: &Caller,
        id: EventId,
        tree_size: Option<u64>,
    ) -> ServiceResult<EventProofAnswer> {
        self.require_log_read(
            Some(caller),
            Exposure::KeyAlways,
            Resource::new("audit_event", id),
        )
        .await?;
        let mut tx = self.begin().await?;
        let Some(index) = tx.log_leaf_index(id).await? else {
            let stored = tx.get_audit_event(id).await?.is_some();
            tx.commit().await?;
            return Err(if stored {
                ServiceError::NotSequenced(format!(
                    "audit event `{id}` is not in the log yet; it is sequenced within seconds, \
                     try again"
                ))
            } else {
                ServiceError::NotFound("audit event")
            });
        };
        let checkpoint = match tree_size {
            None => self.latest_checkpoint(tx.as_mut()).await?,
            Some(size) => {
                let checkpoint = tx
                    .log_checkpoint_at(size)
                    .await?
                    .ok_or(ServiceError::NotFound("log checkpoint of that tree_size"))?;
                self.check_signed(&checkpoint)?;
                checkpoint
            }
        };
        if index >= checkpoint.size {
            tx.commit().await?;
            return Err(ServiceError::NotSequenced(format!(
                "audit event `{id}` is leaf {index}, not yet covered by the checkpoint of {} \
                 leaves; try again shortly",
                checkpoint.size
            )));
        }
        let root = Hash(checkpoint.root);
        let proof = with_store_tiles(tx.as_mut(), &path_tiles(index, checkpoint.size), |tiles| {
            TiledTree::new(tiles, checkpoint.size, root).inclusion_proof(index)
        })
        .await?
        .map_err(|e| internal(format!("inclusion proof of leaf {index}: {e}")))?;
        tx.commit().await?;
        let text = TlogProof {
            extra: None,
            index,
            inclusion_proof: proof.clone(),
            checkpoint: checkpoint.note.clone(),
        }
        .to_text();
        Ok(EventProofAnswer {
            json: EventProof {
                leaf_index: index,
                tree_size: checkpoint.size,
                inclusion_proof: encode_proof(&proof),
                checkpoint: checkpoint.note,
            },
            text,
        })
    }

    /// `GET /api/v1/log/consistency?old=M&new=N`: the proof that the tree of `new` leaves
    /// extends the tree of `old` (`old <= new <=` the newest checkpoint's size).
    pub async fn log_consistency(
        &self,
        caller: &Caller,
        old: Option<&str>,
        new: Option<&str>,
    ) -> ServiceResult<ConsistencyProof> {
        self.require_log_read(
            Some(caller),
            Exposure::KeyAlways,
            Resource::new("log", "consistency"),
        )
        .await?;
        let size = |field: &str, value: Option<&str>| -> ServiceResult<u64> {
            let value = value
                .ok_or_else(|| ServiceError::invalid(format!("{field}: required (a tree size)")))?;
            value.parse::<u64>().map_err(|_| {
                ServiceError::invalid(format!(
                    "{field}: `{value}` is not a tree size (a non-negative integer)"
                ))
            })
        };
        let (old, new) = (size("old", old)?, size("new", new)?);
        if old > new {
            return Err(ServiceError::invalid("old: must not be larger than new"));
        }
        let mut tx = self.begin().await?;
        let checkpoint = self.latest_checkpoint(tx.as_mut()).await?;
        if new > checkpoint.size {
            tx.commit().await?;
            return Err(ServiceError::invalid(format!(
                "new: {new} is past the newest checkpoint ({} leaves)",
                checkpoint.size
            )));
        }
        let proof = if old == 0 || old == new {
            Vec::new()
        } else {
            let root = Hash(checkpoint.root);
            with_store_tiles(tx.as_mut(), &edge_tiles(checkpoint.size), |tiles| {
                let newest = TiledTree::new(tiles, checkpoint.size, root);
                let new_root = newest.root_at(new)?;
                TiledTree::new(tiles, new, new_root).consistency_proof(old)
            })
            .await?
            .map_err(|e| internal(format!("consistency proof {old} -> {new}: {e}")))?
        };
        tx.commit().await?;
        Ok(ConsistencyProof {
            old,
            new,
            proof: encode_proof(&proof),
        })
    }
}
