//! The transparency log's self-check: a scheduler step that re-reads stored events and
//! compares them with the log.
//!
//! Each pass takes the next window of `log_self_check_leaves` leaves of the newest
//! checkpoint's tree (wrapping to leaf 0 at the end, so the whole log is covered in turn),
//! authenticates the level-0 tiles that hold them against the checkpoint's root, and compares
//! each leaf hash there with the hash of the event stored for that leaf, recomputed from the
//! event as the API serves it now. Anything that differs — an edited event, a tile that no
//! longer hashes to the signed root, a leaf without its event — counts in
//! `countersign_log_tamper_detected_total` and is audited as `log.tamper_detected` (category
//! `audit`, details naming the leaf index and event id), which also notifies the webhooks
//! subscribed to `log.tamper_detected`.

use std::sync::atomic::Ordering;

use countersign_domain::audit::actions;
use countersign_domain::{
    Actor, AuditEvent, AuditResult, Category, EventId, Resource, SystemActor,
};
use countersign_tlog::leaf::event_leaf_hash;
use countersign_tlog::tiled::TiledTree;
use countersign_tlog::{Hash, TILE_HEIGHT, TILE_WIDTH};
use serde_json::json;

use crate::error::ServiceResult;
use crate::log_tiles::{edge_tiles, with_store_tiles};
use crate::metrics;
use crate::service::Service;

/// At most this many `log.tamper_detected` events per pass (the counter counts them all).
const MAX_REPORTS_PER_PASS: usize = 100;

/// One leaf that does not match the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampering {
    pub leaf_index: u64,
    /// The event stored for the leaf, if any.
    pub event_id: Option<EventId>,
    pub reason: String,
}

/// What one self-check pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfCheckReport {
    /// The tree checked against (the newest checkpoint's size; 0 when there is none).
    pub tree_size: u64,
    /// Leaves `[start, end)` compared.
    pub start: u64,
    pub end: u64,
    pub tampered: Vec<Tampering>,
}

impl Service {
    /// Check the next window of the log (see the module docs), audit what does not match, and
    /// move the window on.
    pub async fn self_check_log(&self) -> ServiceResult<SelfCheckReport> {
        let mut tx = self.begin().await?;
        let Some(checkpoint) = tx.latest_log_checkpoint().await? else {
            tx.commit().await?;
            return Ok(SelfCheckReport::default());
        };
        let size = checkpoint.size;
        if size == 0 {
            tx.commit().await?;
            return Ok(SelfCheckReport::default());
        }
        let mut start = self.log_check_from.load(Ordering::Relaxed);
        if start >= size {
            start = 0;
        }
        let end = size.min(start + self.config.log_self_check_leaves.max(1));
        let events = tx.log_leaf_events(start, end).await?;
        let first_tile = start >> TILE_HEIGHT;
        let last_tile = (end - 1) >> TILE_HEIGHT;
        let coords: Vec<(u8, u64)> = (first_tile..=last_tile).map(|t| (0, t)).collect();
        let tiles = tx.log_tiles(&coords).await?;
        // Authenticate each level-0 tile of the window against the signed root: proving the
        // first leaf of a tile reads (and checks) the whole tile.
        let root = Hash(checkpoint.root);
        let authentic = with_store_tiles(tx.as_mut(), &edge_tiles(size), |source| {
            let tree = TiledTree::new(source, size, root);
            Ok((first_tile..=last_tile)
                .map(|t| tree.leaf_hash(t << TILE_HEIGHT).is_ok())
                .collect::<Vec<bool>>())
        })
        .await?
        .unwrap_or_default();
        tx.commit().await?;

        let mut tampered = Vec::new();
        let mut events = events.into_iter().peekable();
        for index in start..end {
            let event = match events.peek() {
                Some(e) if e.index == index => events.next().map(|e| e.event),
                _ => None,
            };
            let tile_no = index >> TILE_HEIGHT;
            let offset = (index % u64::from(TILE_WIDTH)) as usize * 32;
            let slot = (tile_no - first_tile) as usize;
            let stored = tiles
                .iter()
                .find(|t| t.level == 0 && t.index == tile_no)
                .and_then(|t| t.hashes.get(offset..offset + 32));
            let reason = match (event.as_ref(), stored) {
                (None, _) => Some("no stored event for this leaf".to_owned()),
                (_, None) => Some(format!("hash tile 0/{tile_no} is missing")),
                (Some(_), Some(_)) if !authentic.get(slot).copied().unwrap_or(false) => Some(
                    format!("hash tile 0/{tile_no} does not hash to the checkpoint's root"),
                ),
                (Some(e), Some(h)) if event_leaf_hash(e).0.as_slice() != h => {
                    Some("the stored event does not hash to its leaf".to_owned())
                }
                _ => None,
            };
            if let Some(reason) = reason {
                tampered.push(Tampering {
                    leaf_index: index,
                    event_id: event.map(|e| e.event_id),
                    reason,
                });
            }
        }
        self.log_check_from
            .store(if end >= size { 0 } else { end }, Ordering::Relaxed);
        metrics::log_self_checked(end - start, tampered.len() as u64);
        if !tampered.is_empty() {
            self.audit_tampering(size, &tampered).await?;
        }
        Ok(SelfCheckReport {
            tree_size: size,
            start,
            end,
            tampered,
        })
    }

    /// Write one `log.tamper_detected` event per tampered leaf (at most
    /// [`MAX_REPORTS_PER_PASS`]), in one transaction.
    async fn audit_tampering(&self, tree_size: u64, tampered: &[Tampering]) -> ServiceResult<()> {
        let actor = Actor::system(SystemActor::Scheduler);
        let events: Vec<AuditEvent> = tampered
            .iter()
            .take(MAX_REPORTS_PER_PASS)
            .map(|t| {
                tracing::error!(
                    log.leaf_index = t.leaf_index,
                    event.id = t.event_id.map(|e| e.to_string()).unwrap_or_default(),
                    log.reason = %t.reason,
                    "transparency log tamper detected"
                );
                AuditEvent::new(
                    Category::Audit,
                    actions::LOG_TAMPER_DETECTED,
                    actor.clone(),
                    Resource::new("log_leaf", t.leaf_index),
                )
                .result(AuditResult::Error {
                    kind: "tamper_detected".to_owned(),
                    message: t.reason.clone(),
                })
                .details(json!({
                    "leaf_index": t.leaf_index,
                    "event_id": t.event_id,
                    "tree_size": tree_size,
                    "reason": t.reason,
                }))
            })
            .collect();
        let tx = self.begin().await?;
        self.commit_with(tx, &events).await
    }
}
