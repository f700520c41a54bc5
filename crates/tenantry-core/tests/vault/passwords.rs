//! Password hashing (Argon2id PHC strings), verification, and random passwords.

use secrecy::ExposeSecret as _;
use tenantry_core::vault::{PasswordError, hash_password, random_password, verify_password};

use super::support::secret;

#[test]
fn password_hash_verifies_the_right_password_only() {
    let hash = hash_password(&secret("correct horse battery staple")).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("correct horse"));
    assert!(verify_password(&secret("correct horse battery staple"), &hash).unwrap());
    assert!(!verify_password(&secret("correct horse battery stapler"), &hash).unwrap());
    assert!(!verify_password(&secret(""), &hash).unwrap());
}

#[test]
fn two_hashes_of_one_password_differ() {
    let a = hash_password(&secret("same")).unwrap();
    let b = hash_password(&secret("same")).unwrap();
    assert_ne!(a, b);
    assert!(verify_password(&secret("same"), &a).unwrap());
    assert!(verify_password(&secret("same"), &b).unwrap());
}

#[test]
fn malformed_password_hashes_are_errors_not_mismatches() {
    let good = hash_password(&secret("pw")).unwrap();
    let without_hash = good.rsplit_once('$').unwrap().0.to_owned();
    let argon2i = good.replacen("argon2id", "argon2i", 1);
    for phc in [
        "",
        "pw",
        "$",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1",
        "$bcrypt$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
        &without_hash,
        &argon2i,
        &format!("{good}$extra"),
        &good.replacen("m=19456", "m=abc", 1),
    ] {
        assert!(
            matches!(
                verify_password(&secret("pw"), phc),
                Err(PasswordError::InvalidHash)
            ),
            "{phc:?}"
        );
    }
}

#[test]
fn random_passwords_are_long_url_safe_and_distinct() {
    let a = random_password();
    let b = random_password();
    assert_eq!(a.expose_secret().len(), 32);
    assert!(
        a.expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    assert_ne!(a.expose_secret(), b.expose_secret());
}
