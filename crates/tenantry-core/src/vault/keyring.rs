//! Master keys, their ids, and the key ring read from `TENANTRY_MASTER_KEY` or a key file.
//!
//! - [`KeyId`] and [`MasterKey`] live in `id.rs` and `master_key.rs`;
//! - the ring itself and its spec (`TENANTRY_MASTER_KEY`) are here;
//! - key files (loading, and generating one on first start) are in `file.rs`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

mod file;
mod id;
mod master_key;
#[cfg(test)]
mod tests;

pub use id::{InvalidKeyId, KeyId};
pub use master_key::MasterKey;

/// Length of a master key in bytes (XChaCha20-Poly1305 uses 256-bit keys).
pub const KEY_LEN: usize = 32;

/// Why a key ring could not be built. `Display` never contains key material; keys are named by
/// their 1-based position in the spec instead.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The spec held no key at all.
    #[error("no master key given (expected one or more base64-encoded 32-byte keys)")]
    Empty,
    /// A key is not base64.
    #[error("master key #{position} is not valid base64")]
    InvalidBase64 {
        /// 1-based position in the spec.
        position: usize,
    },
    /// A key decodes to the wrong number of bytes.
    #[error("master key #{position} must decode to 32 bytes, got {len}")]
    WrongLength {
        /// 1-based position in the spec.
        position: usize,
        /// Decoded length.
        len: usize,
    },
    /// A key file exists but cannot be read (permissions, not UTF-8, ...).
    #[error("cannot read master key file {}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A key file was read but its content is not a valid key spec.
    #[error("invalid master key file {}", path.display())]
    InvalidFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: Box<KeyError>,
    },
    /// A new key file could not be written.
    #[error("cannot write master key file {}", path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// The master keys the vault knows: one current key that seals, plus older keys kept so that
/// secrets sealed before a rotation still open. `Debug` shows key ids only.
pub struct KeyRing {
    /// `keys[0]` is current. Never empty.
    keys: Vec<MasterKey>,
}

impl KeyRing {
    /// A ring sealing with `current` and also opening secrets sealed under any of `old`.
    /// Repeated keys are kept once.
    pub fn from_keys(current: MasterKey, old: Vec<MasterKey>) -> Self {
        let mut keys = Vec::with_capacity(1 + old.len());
        keys.push(current);
        for key in old {
            if !keys.iter().any(|k| k.expose() == key.expose()) {
                keys.push(key);
            }
        }
        KeyRing { keys }
    }

    /// Parse the spec used by `TENANTRY_MASTER_KEY` and key files: one or more standard-base64
    /// 32-byte keys separated by commas or newlines, the first one current. Blank entries and
    /// lines starting with `#` are ignored.
    pub fn parse(spec: &SecretString) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        let entries = spec
            .expose_secret()
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for (index, entry) in entries.enumerate() {
            keys.push(MasterKey::decode(entry, index + 1)?);
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or(KeyError::Empty)?;
        Ok(Self::from_keys(current, keys.collect()))
    }

    /// A fresh random key (same as [`MasterKey::generate`]).
    pub fn generate_key() -> MasterKey {
        MasterKey::generate()
    }

    /// The key that seals new secrets.
    pub fn current(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// Ids of every key in the ring, current first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(MasterKey::id)
    }

    /// Keys carrying `id` (normally exactly one; several only on a 32-bit id collision).
    pub(super) fn keys_with_id<'a>(&'a self, id: &'a KeyId) -> impl Iterator<Item = &'a MasterKey> {
        self.keys.iter().filter(move |k| k.id() == id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", self.current().id())
            .field(
                "old",
                &self.keys[1..].iter().map(MasterKey::id).collect::<Vec<_>>(),
            )
            .finish()
    }
}
