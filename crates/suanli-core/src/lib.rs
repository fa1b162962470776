//! suanli-core: the rules of the compute-voucher (算力券) ledger as pure code.
//!
//! Everything here is deterministic: no async, no I/O, no clock, no randomness. Time and
//! ids come in as data, so the same code runs in the server, in replay after a restart, in
//! the offline verifier and in simulation tests.
#![deny(clippy::float_arithmetic)]

pub mod audit;
pub mod batch;
pub mod checkpoint;
pub mod codec;
pub mod codes;
pub mod dashboard;
pub mod entity_index;
pub mod entry;
pub mod export;
pub mod ids;
pub mod index;
pub mod keyfile;
pub mod lang;
pub mod ledger;
pub mod merkle;
pub mod model;
pub mod money;
pub mod note;
pub mod packed;
pub mod program;
pub mod report;
pub mod sheet;
pub mod sig;
pub mod snapshot;
pub mod testkit;
pub mod tiles;
pub mod time;
pub mod validate;
pub mod wire;
pub mod witness;
