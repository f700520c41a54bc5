//! The vault: every secret the master registry stores (tenant database passwords, server
//! credentials) is sealed here before it reaches a row.
//!
//! - XChaCha20-Poly1305 under a 32-byte master key, with a fresh random 24-byte nonce per seal.
//! - A [`KeyRing`]: the current key seals, older keys still open. Keys are named by a
//!   [`KeyId`] derived from the key itself, so ids never need configuring and never change.
//! - Each ciphertext is bound (as associated data) to its format version, key id and
//!   [`SecretContext`] — table, row, field — so a value copied elsewhere does not open.
//! - Stored as ASCII: `tv1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>` ([`SealedSecret`]).
//! - Long streams (backups) are sealed chunk by chunk with STREAM ([`StreamSealer`]).
//!
//! Password hashing for people (argon2id) lives in [`password`]; servers run it through a
//! [`PasswordChecker`] (a fixed set of threads behind a bounded queue).
//!
//! Nothing in this module prints a key or a plaintext: not errors, not `Debug`.

mod checker;
mod keyring;
pub mod password;
mod sealed;
mod stream;

pub use checker::{CheckerError, CheckerStats, PasswordChecker};
pub use keyring::{InvalidKeyId, KEY_LEN, KeyError, KeyId, KeyRing, MasterKey};
pub use password::{PasswordError, hash_password, random_password, verify_password};
pub use sealed::{SealedSecret, SecretContext};
pub use stream::{STREAM_NONCE_PREFIX_LEN, StreamOpener, StreamSealer};

use chacha20poly1305::aead::{Aead as _, Generate as _, Payload};
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

/// Why a secret could not be sealed or opened. Deliberately coarse: which of wrong key, wrong
/// context or tampering caused a failure is not revealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Not a sealed secret in a format this version understands.
    #[error("sealed secret is malformed (expected tv1.<key id>.<payload>)")]
    Malformed,
    /// Sealed under a key that is not in the key ring (was an old key dropped too early?).
    #[error("secret was sealed with master key {0}, which is not in the key ring")]
    UnknownKeyId(KeyId),
    /// Authentication failed: wrong key, wrong context (row/field/table), or tampered data.
    #[error("secret does not decrypt: wrong key, wrong context, or tampered data")]
    Decrypt,
    /// The cipher refused to seal (only possible for absurdly large plaintexts).
    #[error("secret could not be sealed")]
    Encrypt,
}

/// Seals and opens secrets with a [`KeyRing`].
#[derive(Debug)]
pub struct Vault {
    ring: KeyRing,
}

impl Vault {
    /// A vault over `ring`.
    pub fn new(ring: KeyRing) -> Self {
        Vault { ring }
    }

    /// The key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The id of the key new secrets are sealed under.
    pub fn current_key_id(&self) -> &KeyId {
        self.ring.current().id()
    }

    /// Encrypt `plaintext` under the current key, bound to `ctx`.
    pub fn seal(
        &self,
        plaintext: &SecretString,
        ctx: &SecretContext,
    ) -> Result<SealedSecret, VaultError> {
        let key = self.ring.current();
        let nonce = XNonce::generate();
        let aad = ctx.aad(key.id());
        let ciphertext = cipher(key)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        let mut payload = Vec::with_capacity(nonce.len() + ciphertext.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&ciphertext);
        Ok(SealedSecret::encode(key.id().clone(), &payload))
    }

    /// Decrypt a stored secret, checking it was sealed for `ctx`.
    pub fn open(&self, sealed: &str, ctx: &SecretContext) -> Result<SecretString, VaultError> {
        let parts = sealed::parse(sealed)?;
        let aad = ctx.aad(&parts.key_id);
        let nonce = XNonce::from(parts.nonce);
        if self.ring.keys_with_id(&parts.key_id).next().is_none() {
            return Err(VaultError::UnknownKeyId(parts.key_id));
        }
        let plaintext = self
            .ring
            .keys_with_id(&parts.key_id)
            .find_map(|key| {
                cipher(key)
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: &parts.ciphertext,
                            aad: &aad,
                        },
                    )
                    .ok()
            })
            .map(Zeroizing::new)
            .ok_or(VaultError::Decrypt)?;
        // We only ever seal UTF-8, so invalid UTF-8 under a valid tag cannot come from us.
        let text = std::str::from_utf8(&plaintext).map_err(|_| VaultError::Decrypt)?;
        // `to_owned` allocates exactly, so the secret is not copied again when boxed.
        Ok(SecretString::from(text.to_owned()))
    }

    /// Whether `sealed` should be re-sealed under the current key: true unless it is a
    /// well-formed secret whose key id is the current one. Malformed values report `true`, so a
    /// rotation pass opens them and reports the problem instead of skipping them silently.
    pub fn needs_rewrap(&self, sealed: &str) -> bool {
        sealed::parse(sealed).map_or(true, |parts| &parts.key_id != self.current_key_id())
    }
}

fn cipher(key: &MasterKey) -> XChaCha20Poly1305 {
    // Borrowed, not copied; the cipher's own copy is zeroised on drop (`zeroize` feature).
    XChaCha20Poly1305::new(key.expose().into())
}
