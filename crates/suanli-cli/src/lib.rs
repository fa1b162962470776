//! suanli-cli: the typed client of the suanli ledger, used by the `suanli` command line, by
//! end-to-end tests and by the load generator.
//!
//! - [`Client`]: one gRPC channel to `suanlid`, with a method per call of
//!   `proto/suanli/v1/{ledger,audit}.proto`: signed requests, streaming submission, signed
//!   reads, checkpoints, proofs and exports.
//! - [`signing`]: envelopes signed under the right domain tag, signed reads, request ids.
//! - [`keys`]: key files (read, and create with mode 0600 without ever overwriting).
//! - [`records`]: the usage and corpus CSV files of SPEC §11 turned into wire records.
//! - [`input`]: record files as spreadsheets have them (XLSX, GBK/GB18030, Excel times),
//!   normalised before signing, and the local checks of `--dry-run`.
//! - [`i18n`]: the command line's messages in Simplified Chinese and English.
//! - [`output`]: the result lines `suanli usage submit` prints, and `settle list` rows.
//! - [`log`]: checkpoints, record proofs, exports and their offline verification (SPEC §9).
//!
//! Errors are one enum, [`ClientError`]; every message names what failed and where, so the
//! command line can print it as it is.

pub mod client;
pub mod error;
pub mod i18n;
pub mod input;
pub mod keys;
pub mod log;
pub mod output;
pub mod records;
pub mod signing;
pub mod verify;

pub use client::{AckStream, Client, TlsOptions};
pub use error::ClientError;
pub use suanli_proto::v1;
