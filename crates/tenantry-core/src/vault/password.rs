//! Passwords people type (admins, tenant users): argon2id hashes in PHC string form, and random
//! passwords for generated database roles and one-time logins.

use argon2::{ARGON2ID_IDENT, Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::OsRng;
use rand::{RngCore as _, TryRngCore as _};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

/// Random bytes in a generated password: 192 bits, 32 base64url characters.
const RANDOM_PASSWORD_BYTES: usize = 24;

/// Why a password could not be hashed or checked. Never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The stored hash is not an argon2id PHC string with salt and hash.
    #[error("stored password hash is not a valid argon2id PHC string")]
    InvalidHash,
    /// Hashing itself failed (RNG failure, out of memory, password too long).
    #[error("password hashing failed: {0}")]
    Hashing(argon2::password_hash::Error),
}

/// Hash `password` with argon2id at the crate's default cost and a random salt; returns the PHC
/// string (`$argon2id$v=19$m=...`), which records the parameters used.
pub fn hash_password(password: &SecretString) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(PasswordError::Hashing)
}

/// Check `password` against a PHC string from [`hash_password`]. A wrong password is
/// `Ok(false)`; a hash we could not have written is an error. Verification uses the cost
/// parameters recorded in the hash, so old hashes keep working if the default cost rises.
pub fn verify_password(password: &SecretString, phc: &str) -> Result<bool, PasswordError> {
    let hash = PasswordHash::new(phc).map_err(|_| PasswordError::InvalidHash)?;
    // We only ever write argon2id; anything else in our tables is not ours.
    if hash.algorithm != ARGON2ID_IDENT || hash.salt.is_none() || hash.hash.is_none() {
        return Err(PasswordError::InvalidHash);
    }
    match Argon2::default().verify_password(password.expose_secret().as_bytes(), &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(
            argon2::password_hash::Error::Algorithm
            | argon2::password_hash::Error::EncodingInvalid
            | argon2::password_hash::Error::OutputSize
            | argon2::password_hash::Error::ParamInvalid { .. }
            | argon2::password_hash::Error::ParamsInvalid
            | argon2::password_hash::Error::SaltInvalid
            | argon2::password_hash::Error::Version,
        ) => Err(PasswordError::InvalidHash),
        Err(e) => Err(PasswordError::Hashing(e)),
    }
}

/// A fresh random password: 32 URL-safe characters (`A-Z a-z 0-9 - _`), 192 bits from the OS
/// RNG. Safe to embed in connection URLs and SQL string literals without escaping.
pub fn random_password() -> SecretString {
    let mut bytes = Zeroizing::new([0u8; RANDOM_PASSWORD_BYTES]);
    OsRng.unwrap_err().fill_bytes(bytes.as_mut_slice());
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes.as_slice()))
}
