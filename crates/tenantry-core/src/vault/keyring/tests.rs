//! Unit tests of key ids, master key decoding and key-ring spec parsing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret as _;

use super::{KEY_LEN, KeyError, KeyId, KeyRing, MasterKey};

#[test]
fn key_id_is_eight_hex_digits_and_depends_on_the_key() {
    let a = MasterKey::generate();
    let b = MasterKey::generate();
    assert_eq!(a.id().as_str().len(), 8);
    assert!(a.id().as_str().parse::<KeyId>().is_ok());
    assert_ne!(a.id(), b.id());
}

#[test]
fn key_id_is_stable_for_a_known_key() {
    // SHA-256("tenantry key id v1\0" || [0u8; 32]), first four bytes, pinned: changing the
    // derivation would orphan every stored secret.
    let zero = MasterKey::from_base64(&STANDARD.encode([0u8; KEY_LEN])).unwrap();
    assert_eq!(zero.id().as_str(), "dc957420");
}

#[test]
fn key_id_parse_rejects_non_ids() {
    for bad in ["", "abc", "ABCDEF01", "abcdef012", "abcdefg1", "abcdef0 "] {
        assert!(bad.parse::<KeyId>().is_err(), "{bad:?}");
    }
}

#[test]
fn parse_skips_comments_and_blanks_and_dedupes() {
    let k1 = MasterKey::generate();
    let k2 = MasterKey::generate();
    let spec = format!(
        "# comment\n\n  {} ,{}\n{}\n",
        k1.to_base64().expose_secret(),
        k2.to_base64().expose_secret(),
        k1.to_base64().expose_secret(),
    );
    let ring = KeyRing::parse(&spec.into()).unwrap();
    let ids: Vec<_> = ring.key_ids().cloned().collect();
    assert_eq!(ids, vec![k1.id().clone(), k2.id().clone()]);
}

#[test]
fn parse_accepts_unpadded_base64() {
    let k = MasterKey::generate();
    let unpadded = k
        .to_base64()
        .expose_secret()
        .trim_end_matches('=')
        .to_owned();
    let ring = KeyRing::parse(&unpadded.into()).unwrap();
    assert_eq!(ring.current().id(), k.id());
}

#[test]
fn empty_spec_is_an_error() {
    for spec in ["", "  ", "# only a comment\n", ",\n,"] {
        assert!(matches!(KeyRing::parse(&spec.into()), Err(KeyError::Empty)));
    }
}
