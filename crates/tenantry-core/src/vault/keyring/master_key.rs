//! [`MasterKey`]: one 32-byte key, generated or decoded from base64, zeroised on drop.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::rngs::OsRng;
use rand::{RngCore as _, TryRngCore as _};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use zeroize::Zeroizing;

use super::{KEY_LEN, KeyError, KeyId};

/// Standard base64, padding optional: operators paste keys into env vars and YAML, where a
/// trailing `=` is easily lost, and it carries no information anyway.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A 32-byte master key. Zeroised on drop; `Debug` shows only its [`KeyId`].
pub struct MasterKey {
    bytes: SecretBox<[u8; KEY_LEN]>,
    id: KeyId,
}

impl MasterKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_secret(SecretBox::init_with_mut(|bytes: &mut [u8; KEY_LEN]| {
            OsRng.unwrap_err().fill_bytes(bytes);
        }))
    }

    /// Decode one standard-base64 key (padding optional). The error never contains the input.
    pub fn from_base64(encoded: &str) -> Result<Self, KeyError> {
        Self::decode(encoded.trim(), 1)
    }

    pub(super) fn decode(encoded: &str, position: usize) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            KEY_BASE64
                .decode(encoded)
                .map_err(|_| KeyError::InvalidBase64 { position })?,
        );
        let bytes: &[u8; KEY_LEN] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::WrongLength {
                    position,
                    len: decoded.len(),
                })?;
        Ok(Self::from_secret(SecretBox::init_with_mut(
            |dst: &mut [u8; KEY_LEN]| dst.copy_from_slice(bytes),
        )))
    }

    fn from_secret(bytes: SecretBox<[u8; KEY_LEN]>) -> Self {
        let id = KeyId::of(bytes.expose_secret());
        MasterKey { bytes, id }
    }

    /// This key's public fingerprint.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key in standard base64 — the format key files and `TENANTRY_MASTER_KEY` use.
    /// Only for writing a key file or showing a freshly generated key to an operator.
    pub fn to_base64(&self) -> SecretString {
        STANDARD.encode(self.bytes.expose_secret()).into()
    }

    pub(in crate::vault) fn expose(&self) -> &[u8; KEY_LEN] {
        self.bytes.expose_secret()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}
