//! What must not open: the wrong key, tampered or truncated payloads, bad version or key id
//! text, and arbitrary garbage (which must never panic either).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tenantry_core::vault::{KeyRing, SealedSecret, VaultError};

use super::support::{ctx, fresh_vault, join, secret, split, vault_with};

#[test]
fn wrong_key_fails() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let sealed = vault_with(&[&k1]).seal(&secret("pw"), &ctx()).unwrap();

    // A ring without k1 says which key is missing.
    assert_eq!(
        vault_with(&[&k2])
            .open(sealed.as_str(), &ctx())
            .unwrap_err(),
        VaultError::UnknownKeyId(k1.id().clone())
    );
    // Relabelled to claim k2, the ciphertext still does not open under k2.
    let (version, _, payload) = split(sealed.as_str());
    let relabelled = join(&version, k2.id().as_str(), &payload);
    assert_eq!(
        vault_with(&[&k2]).open(&relabelled, &ctx()).unwrap_err(),
        VaultError::Decrypt
    );
}

#[test]
fn flipping_any_payload_byte_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("tamper me"), &ctx()).unwrap();
    let (version, key_id, payload) = split(sealed.as_str());
    assert!(
        vault
            .open(&join(&version, &key_id, &payload), &ctx())
            .is_ok()
    );
    for position in 0..payload.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut tampered = payload.clone();
            tampered[position] ^= mask;
            assert_eq!(
                vault
                    .open(&join(&version, &key_id, &tampered), &ctx())
                    .err(),
                Some(VaultError::Decrypt),
                "byte {position} ^ {mask:#x} was accepted"
            );
        }
    }
}

#[test]
fn truncating_or_extending_the_payload_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("tamper me"), &ctx()).unwrap();
    let (version, key_id, payload) = split(sealed.as_str());
    for len in 0..payload.len() {
        assert!(
            vault
                .open(&join(&version, &key_id, &payload[..len]), &ctx())
                .is_err()
        );
    }
    let mut longer = payload.clone();
    longer.push(0);
    assert_eq!(
        vault.open(&join(&version, &key_id, &longer), &ctx()).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn tampering_with_version_or_key_id_text_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let (_, key_id, payload) = split(sealed.as_str());
    for version in ["tv2", "tv0", "TV1", "tv", "tv1 ", "", "v1"] {
        assert_eq!(
            vault.open(&join(version, &key_id, &payload), &ctx()).err(),
            Some(VaultError::Malformed),
            "{version:?}"
        );
    }
    for position in 0..key_id.len() {
        let mut other = key_id.clone().into_bytes();
        other[position] = if other[position] == b'0' { b'1' } else { b'0' };
        let other = String::from_utf8(other).unwrap();
        assert!(matches!(
            vault.open(&join("tv1", &other, &payload), &ctx()),
            Err(VaultError::UnknownKeyId(_))
        ));
    }
    let upper = format!("{}X", &key_id[..7]).to_uppercase();
    for bad_id in [
        upper.as_str(),
        &key_id[1..],
        &format!("{key_id}0"),
        "",
        "0123456g",
    ] {
        assert_eq!(
            vault.open(&join("tv1", bad_id, &payload), &ctx()).err(),
            Some(VaultError::Malformed),
            "{bad_id:?}"
        );
    }
}

#[test]
fn garbage_inputs_to_open_never_panic() {
    let vault = fresh_vault();
    let valid = vault.seal(&secret("pw"), &ctx()).unwrap().into_string();
    let id = vault.current_key_id().to_string();
    let mut inputs: Vec<String> = [
        "",
        ".",
        "..",
        "...",
        "tv1",
        "tv1.",
        "tv1..",
        "tv1...",
        "tv1.00000000.",
        "tv1.00000000.AAAA",
        "tv1.zzzzzzzz.AAAA",
        "tv1.0000000.AAAA",
        "tv1.00000000.====",
        "tv1.00000000.A",
        "tv1.00000000.AB",
        "tv1.00000000.!!!!",
        "tv1.ééééé.AAAA",
        "\0\0\0",
        "tv1.\u{0}.\u{0}",
        "🔑.🔑.🔑",
        "postgres://user:password@host/db",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.push(format!("tv1.{id}."));
    inputs.push(format!("tv1.{id}.{}", "A".repeat(100_000)));
    inputs.push(format!("tv1.{id}.{}", URL_SAFE_NO_PAD.encode([0u8; 40])));
    inputs.push(format!("{valid}."));
    inputs.push(format!(".{valid}"));
    inputs.push(format!("{valid}="));
    inputs.push(valid.replace('.', ".."));
    // Every prefix of a valid value (char boundaries only; it is ASCII).
    inputs.extend((0..valid.len()).map(|n| valid[..n].to_owned()));
    // Deterministic pseudo-random strings over an alphabet that hits every parser branch.
    let alphabet: Vec<char> = "tv1.0123456789abcdefABCDEF-_+/=é🔑\0 ".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2_000 {
        let mut s = String::from(if next() % 2 == 0 { "tv1." } else { "" });
        for _ in 0..next() % 80 {
            s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        inputs.push(s);
    }
    for input in &inputs {
        assert!(vault.open(input, &ctx()).is_err(), "{input:?} opened");
        let _ = vault.needs_rewrap(input);
        let _ = input.parse::<SealedSecret>();
    }
}
