//! SCRAM-SHA-256 password verifiers (RFC 5802/7677), computed client-side the way libpq's
//! `PQencryptPasswordConn` (psql's `\password`) does, so a role's plaintext password is never
//! sent in SQL: it cannot end up in the server's statement log or in `pg_stat_activity`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// PBKDF2 rounds in a tenant role's verifier. PostgreSQL's default (`scram_iterations`) is
/// 4096, and every client pays them on every connect: 0.5–0.7 ms of the pool's CPU, about half
/// of what a connect costs the client (`scripts/bench connect`, docs/benchmarks.md). They slow down guessing a *human* password from a stolen
/// verifier or a sniffed exchange; a tenant role's password is 192 bits from the OS RNG
/// ([`tenantry_core::vault::random_password`]), which no number of rounds makes more or less
/// guessable (2^192 guesses either way). The argument in full: docs/ARCHITECTURE.md.
const GENERATED_PASSWORD_ITERATIONS: u32 = 16;
const SALT_BYTES: usize = 16;

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, the form PostgreSQL stores in
/// `pg_authid.rolpassword` and accepts verbatim in `PASSWORD '...'`.
///
/// Safe to embed in a SQL string literal by construction: only the prefix, digits and standard
/// base64 (`A-Za-z0-9+/=`), never a quote or backslash.
pub(super) struct ScramVerifier(String);

impl ScramVerifier {
    /// A verifier with a fresh random salt for a generated tenant role password (never a
    /// human-chosen one: it is hashed with [`GENERATED_PASSWORD_ITERATIONS`] rounds).
    pub(super) fn for_random_password(password: &SecretString) -> Self {
        Self::with_salt(
            password,
            &rand::random::<[u8; SALT_BYTES]>(),
            GENERATED_PASSWORD_ITERATIONS,
        )
    }

    fn with_salt(password: &SecretString, salt: &[u8], iterations: u32) -> Self {
        // Clients (libpq, sqlx) SASLprep the password before hashing; PostgreSQL falls back to
        // the raw bytes when SASLprep refuses a string, and so do we. Identity for plain ASCII.
        let raw = password.expose_secret();
        let prepared = stringprep::saslprep(raw).unwrap_or(raw.into());
        let salted = Zeroizing::new(pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(
            prepared.as_bytes(),
            salt,
            iterations,
        ));
        let client_key = Zeroizing::new(hmac(salted.as_slice(), b"Client Key"));
        let stored_key = Sha256::digest(client_key.as_slice());
        let server_key = hmac(salted.as_slice(), b"Server Key");
        Self(format!(
            "SCRAM-SHA-256${iterations}:{}${}:{}",
            STANDARD.encode(salt),
            STANDARD.encode(stored_key),
            STANDARD.encode(server_key)
        ))
    }

    /// `'SCRAM-SHA-256$...'`, ready for `PASSWORD <literal>`.
    pub(super) fn sql_literal(&self) -> String {
        format!("'{}'", self.0)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independently_computed_verifier() {
        // RFC 7677's parameters (password "pencil", this salt, 4096 iterations); expected value
        // computed with Python's hashlib.pbkdf2_hmac + hmac, not with this code.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = ScramVerifier::with_salt(&SecretString::from("pencil"), &salt, 4096);
        assert_eq!(
            v.0,
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
             WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:\
             wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn literal_is_quote_free_salted_and_never_holds_the_password() {
        let password = SecretString::from("it's-a-Secret\\");
        let (a, b) = (
            ScramVerifier::for_random_password(&password),
            ScramVerifier::for_random_password(&password),
        );
        assert_ne!(a.0, b.0, "each verifier gets its own salt");
        let literal = a.sql_literal();
        assert!(!literal.contains("Secret"));
        let inner = &literal[1..literal.len() - 1];
        assert!(inner.starts_with("SCRAM-SHA-256$16:"));
        assert!(
            inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-$:+/=".contains(&b)),
            "{inner}"
        );
    }
}
