//! The integration tests of `countersign-tlog`, one binary with a module per subject.

mod export_line;
mod export_range;
mod independent;
mod leaf;
mod merkle_vectors;
mod notes;
mod range;
mod tiles;
mod tlog_proof;
