//! The stored form of a sealed secret and the context it is bound to.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::VaultError;
use super::keyring::KeyId;

/// Format version tag; the first dot-separated part of every sealed secret.
pub(super) const VERSION: &str = "tv1";
pub(super) const NONCE_LEN: usize = 24;
pub(super) const TAG_LEN: usize = 16;

/// Where a secret lives: its table, row and column. Bound into the ciphertext as associated data,
/// so a sealed value copied to another row, column or table no longer opens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretContext {
    table: &'static str,
    row: String,
    field: &'static str,
}

impl SecretContext {
    /// `SecretContext::new("tenants", tenant_id, "db_password")`. The row id is bound in its
    /// `Display` form, so always pass the typed id (e.g. a `Uuid`), not a hand-formatted string.
    pub fn new(table: &'static str, row_id: impl fmt::Display, field: &'static str) -> Self {
        SecretContext {
            table,
            row: row_id.to_string(),
            field,
        }
    }

    /// The table.
    pub fn table(&self) -> &str {
        self.table
    }

    /// The row id, as bound.
    pub fn row(&self) -> &str {
        &self.row
    }

    /// The column.
    pub fn field(&self) -> &str {
        self.field
    }

    /// Associated data: version, key id and context, each length-prefixed so no two different
    /// tuples encode to the same bytes.
    pub(super) fn aad(&self, key_id: &KeyId) -> Vec<u8> {
        let parts = [
            VERSION,
            key_id.as_str(),
            self.table,
            self.row.as_str(),
            self.field,
        ];
        let mut aad = Vec::with_capacity(parts.iter().map(|p| 4 + p.len()).sum());
        for part in parts {
            // Lengths are bounded by memory; a context over 4 GiB is not a thing.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            aad.extend_from_slice(&len.to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// A secret as stored in a TEXT column: `tv1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
///
/// Only well-formed values can be constructed (by sealing, or by parsing with [`FromStr`] /
/// serde); that says nothing about whether it opens. `Debug` shows only the key id.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SealedSecret {
    text: String,
    key_id: KeyId,
}

impl SealedSecret {
    pub(super) fn encode(key_id: KeyId, payload: &[u8]) -> Self {
        let text = format!("{VERSION}.{key_id}.{}", URL_SAFE_NO_PAD.encode(payload));
        SealedSecret { text, key_id }
    }

    /// The key this was sealed under.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The stored form, owned.
    pub fn into_string(self) -> String {
        self.text
    }
}

/// A parsed sealed secret, borrowed from its text.
pub(super) struct Parts {
    pub(super) key_id: KeyId,
    pub(super) nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag.
    pub(super) ciphertext: Vec<u8>,
}

/// Split and decode `tv1.<key id>.<payload>`; rejects anything else without panicking.
pub(super) fn parse(text: &str) -> Result<Parts, VaultError> {
    let mut pieces = text.split('.');
    let (Some(version), Some(key_id), Some(payload), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(VaultError::Malformed);
    };
    if version != VERSION {
        return Err(VaultError::Malformed);
    }
    let key_id: KeyId = key_id.parse().map_err(|_| VaultError::Malformed)?;
    // The default engine rejects padding and non-zero trailing bits, so every payload has
    // exactly one accepted spelling.
    let mut decoded = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| VaultError::Malformed)?;
    if decoded.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Malformed);
    }
    let ciphertext = decoded.split_off(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::Malformed)?;
    Ok(Parts {
        key_id,
        nonce,
        ciphertext,
    })
}

impl FromStr for SealedSecret {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = parse(s)?;
        Ok(SealedSecret {
            text: s.to_owned(),
            key_id: parts.key_id,
        })
    }
}

impl TryFrom<String> for SealedSecret {
    type Error = VaultError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let key_id = parse(&text)?.key_id;
        Ok(SealedSecret { text, key_id })
    }
}

impl From<SealedSecret> for String {
    fn from(sealed: SealedSecret) -> Self {
        sealed.text
    }
}

impl AsRef<str> for SealedSecret {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({VERSION}.{}.…)", self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(table: &'static str, row: &str, field: &'static str) -> SecretContext {
        SecretContext::new(table, row, field)
    }

    #[test]
    fn aad_is_unambiguous() {
        let id: KeyId = "0123abcd".parse().unwrap();
        // Shifting bytes between adjacent parts must change the associated data.
        assert_ne!(ctx("ab", "c", "d").aad(&id), ctx("a", "bc", "d").aad(&id));
        assert_ne!(ctx("a", "bc", "d").aad(&id), ctx("a", "b", "cd").aad(&id));
        let other: KeyId = "0123abce".parse().unwrap();
        assert_ne!(ctx("a", "b", "c").aad(&id), ctx("a", "b", "c").aad(&other));
    }

    #[test]
    fn aad_layout_is_pinned() {
        // Changing this layout would make every stored secret fail to open.
        let id: KeyId = "0123abcd".parse().unwrap();
        assert_eq!(
            ctx("t", "r", "f").aad(&id),
            b"\0\0\0\x03tv1\0\0\0\x080123abcd\0\0\0\x01t\0\0\0\x01r\0\0\0\x01f"
        );
    }

    #[test]
    fn parse_rejects_short_payload_and_extra_parts() {
        let short = URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + TAG_LEN - 1]);
        assert!(parse(&format!("tv1.0123abcd.{short}")).is_err());
        let ok = URL_SAFE_NO_PAD.encode([0u8; NONCE_LEN + TAG_LEN]);
        assert!(parse(&format!("tv1.0123abcd.{ok}")).is_ok());
        assert!(parse(&format!("tv1.0123abcd.{ok}.")).is_err());
        assert!(parse(&format!("tv1.0123abcd.{ok}=")).is_err());
    }
}
