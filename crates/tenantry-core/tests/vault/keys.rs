//! Master keys: parsing key specs without echoing them, key ids, and rotation with rewrap.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret as _;
use tenantry_core::vault::{KeyError, KeyRing, MasterKey, VaultError};

use super::support::{ctx, fresh_vault, secret, vault_with};

#[test]
fn key_parse_rejects_bad_base64_without_echoing_it() {
    let input = "this-is-not*base64!";
    let err = KeyRing::parse(&secret(input)).unwrap_err();
    assert!(matches!(err, KeyError::InvalidBase64 { position: 1 }));
    let shown = err.to_string();
    assert!(shown.contains("not valid base64"), "{shown}");
    assert!(!shown.contains(input), "{shown}");
}

#[test]
fn key_parse_rejects_wrong_lengths_without_echoing_them() {
    for len in [0usize, 16, 31, 33, 64] {
        // A recognisable byte pattern, so a leak would show up in the message.
        let bytes: Vec<u8> = (0..len).map(|i| 0xA0 ^ i as u8).collect();
        let encoded = STANDARD.encode(&bytes);
        let err = match KeyRing::parse(&secret(&encoded)) {
            Err(e) => e,
            Ok(_) => panic!("{len}-byte key accepted"),
        };
        let shown = err.to_string();
        if len == 0 {
            assert!(matches!(err, KeyError::Empty), "{shown}");
            continue;
        }
        assert!(
            shown.contains(&format!("must decode to 32 bytes, got {len}")),
            "{shown}"
        );
        assert!(!shown.contains(&encoded), "{shown}");
        assert!(!format!("{err:?}").contains(&encoded));
    }
}

#[test]
fn key_parse_names_the_bad_key_by_position() {
    let good = KeyRing::generate_key().to_base64();
    let spec = format!("{},{}, bad!", good.expose_secret(), good.expose_secret());
    let err = KeyRing::parse(&secret(&spec)).unwrap_err();
    assert!(
        matches!(err, KeyError::InvalidBase64 { position: 3 }),
        "{err}"
    );
}

#[test]
fn key_parse_takes_the_first_key_as_current() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let spec = format!(
        "# rotated 2025-01-01\n{}\n\n# previous\n{}\n",
        k2.to_base64().expose_secret(),
        k1.to_base64().expose_secret()
    );
    let ring = KeyRing::parse(&secret(&spec)).unwrap();
    assert_eq!(ring.current().id(), k2.id());
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![k2.id(), k1.id()]);

    let env_style = format!(
        "{},{}",
        k2.to_base64().expose_secret(),
        k1.to_base64().expose_secret()
    );
    let ring = KeyRing::parse(&secret(&env_style)).unwrap();
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![k2.id(), k1.id()]);
}

#[test]
fn key_ids_are_derived_from_the_key() {
    let k = KeyRing::generate_key();
    let again = MasterKey::from_base64(k.to_base64().expose_secret()).unwrap();
    assert_eq!(k.id(), again.id());
    assert_ne!(k.id(), KeyRing::generate_key().id());
}

#[test]
fn rotation_opens_old_secrets_and_seals_new_ones_with_the_new_key() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let before = vault_with(&[&k1]);
    let old = before.seal(&secret("old secret"), &ctx()).unwrap();
    assert_eq!(old.key_id(), k1.id());
    assert!(!before.needs_rewrap(old.as_str()));

    let after = vault_with(&[&k2, &k1]);
    assert_eq!(after.current_key_id(), k2.id());
    assert_eq!(
        after.open(old.as_str(), &ctx()).unwrap().expose_secret(),
        "old secret"
    );
    assert!(after.needs_rewrap(old.as_str()));

    let new = after.seal(&secret("new secret"), &ctx()).unwrap();
    assert_eq!(new.key_id(), k2.id());
    assert!(!after.needs_rewrap(new.as_str()));

    // Rewrap = open + seal; afterwards k1 can go.
    let rewrapped = after
        .seal(&after.open(old.as_str(), &ctx()).unwrap(), &ctx())
        .unwrap();
    let only_k2 = vault_with(&[&k2]);
    assert_eq!(
        only_k2
            .open(rewrapped.as_str(), &ctx())
            .unwrap()
            .expose_secret(),
        "old secret"
    );
    assert_eq!(
        only_k2.open(old.as_str(), &ctx()).err(),
        Some(VaultError::UnknownKeyId(k1.id().clone()))
    );
}

#[test]
fn needs_rewrap_reports_malformed_values() {
    let vault = fresh_vault();
    assert!(vault.needs_rewrap(""));
    assert!(vault.needs_rewrap("plaintext-password"));
}
