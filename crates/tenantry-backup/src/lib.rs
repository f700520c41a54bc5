//! Encrypted, streamed backup archives, where they are stored, and which ones to keep.
//!
//! - [`archive`]: the file format. A tenant's dump is sealed chunk by chunk under the vault's
//!   master key as it streams from the engine to the store, and opened (authenticated chunk by
//!   chunk) as it streams back.
//! - [`store`]: where archives go — a local directory or an S3-compatible bucket — and the
//!   location URL recorded for each, so a restore finds a backup taken under an earlier target.
//! - [`retention`]: which backups to keep (grandfather-father-son), as a pure function of the
//!   backups' times and "now".
//!
//! # Error policy
//! Each module has its own `thiserror` enum whose `Display` is written for an operator: what is
//! wrong with which backup or location, never a key, a credential or plaintext. Causes (I/O,
//! object-store responses) are `source()`s, for the log.

pub mod archive;
pub mod retention;
pub mod store;

pub use archive::{ArchiveError, Engine, Header, HeaderFields, Opened, Sealed, open, seal, verify};
pub use retention::{Policy, to_prune};
pub use store::{BackupStore, BackupWriter, S3Options, StoreError};
