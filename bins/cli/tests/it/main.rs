//! The `countersign` CLI's end-to-end tests, one test binary: a module per subject.

mod support;

mod cli;
mod quickstart;
mod verify;
