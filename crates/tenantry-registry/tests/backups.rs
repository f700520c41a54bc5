//! The master's side of backups: a backup row's life (running → completed or failed), scheduled
//! backups claimed exactly once by concurrent claimers, stale ones failed, deleted tenants
//! recoverable until their final backup expires, and the fence and database swap that restore
//! and move rely on. Both dialects.
//!
//! One test binary: the tests live in `backups/<theme>.rs`, their shared helpers in
//! `backups/support.rs`.

#[path = "backups/fences.rs"]
mod fences;
#[path = "backups/lifecycle.rs"]
mod lifecycle;
#[path = "backups/recovery.rs"]
mod recovery;
#[path = "backups/scheduling.rs"]
mod scheduling;
#[path = "backups/support.rs"]
mod support;
