//! [`KeyId`]: the short public fingerprint that names a master key in sealed secrets and logs.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::KEY_LEN;

/// Domain separation, so a key id can never be confused with any other hash of the key.
const KEY_ID_DOMAIN: &[u8] = b"tenantry key id v1\0";
const KEY_ID_HEX_LEN: usize = 8;

/// Short public fingerprint of a master key: the first 8 hex digits of
/// SHA-256(`"tenantry key id v1\0"` ‖ key).
///
/// Derived from the key, so operators never name keys and an id never changes. It is stored in
/// every sealed secret to pick the key for decryption; 32 bits reveal nothing useful about a
/// 256-bit key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub(super) fn of(key: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(key)
            .finalize();
        let hex = digest
            .iter()
            .take(KEY_ID_HEX_LEN / 2)
            .map(|b| format!("{b:02x}"))
            .collect();
        KeyId(hex)
    }

    /// The id as it appears in sealed secrets and logs: 8 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid =
            s.len() == KEY_ID_HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(InvalidKeyId)
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// A string that is not a key id (8 lowercase hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key id is 8 lowercase hex digits")]
pub struct InvalidKeyId;
