//! The vault's security properties, tested from outside the crate.
//!
//! One test binary: the tests live in `vault/<theme>.rs`, their shared helpers in
//! `vault/support.rs`.

#[path = "vault/binding.rs"]
mod binding;
#[path = "vault/key_files.rs"]
mod key_files;
#[path = "vault/keys.rs"]
mod keys;
#[path = "vault/passwords.rs"]
mod passwords;
#[path = "vault/redaction.rs"]
mod redaction;
#[path = "vault/sealing.rs"]
mod sealing;
#[path = "vault/support.rs"]
mod support;
#[path = "vault/tampering.rs"]
mod tampering;
