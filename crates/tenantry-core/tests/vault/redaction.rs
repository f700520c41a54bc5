//! Debug output of keys, key rings, vaults and sealed values shows key ids, never key material.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret as _;
use tenantry_core::vault::{KeyRing, MasterKey};

use super::support::{ctx, secret, vault_with};

#[test]
fn debug_output_contains_no_key_material() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let encodings = |k: &MasterKey| {
        let b64 = k.to_base64().expose_secret().to_owned();
        let raw = STANDARD.decode(&b64).unwrap();
        vec![
            b64.trim_end_matches('=').to_owned(),
            URL_SAFE_NO_PAD.encode(&raw),
            raw.iter().map(|b| format!("{b:02x}")).collect(),
            format!("{raw:?}"),
            format!("{:?}", &raw[..8]),
        ]
    };
    let secrets: Vec<String> = encodings(&k1).into_iter().chain(encodings(&k2)).collect();
    let vault = vault_with(&[&k2, &k1]);
    let sealed = vault.seal(&secret("plaintext-canary"), &ctx()).unwrap();
    let shown = [
        format!("{k1:?}"),
        format!("{:?}", vault.key_ring()),
        format!("{:#?}", vault.key_ring()),
        format!("{vault:?}"),
        format!("{sealed:?}"),
    ];
    for text in &shown {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text} leaks key material");
        }
        assert!(!text.contains("plaintext-canary"));
    }
    assert!(shown[0].contains(k1.id().as_str()));
    assert!(shown[1].contains(k1.id().as_str()) && shown[1].contains(k2.id().as_str()));
    // The sealed Debug form hides the ciphertext too: it is not secret, but it is noise in logs.
    assert!(!shown[4].contains(sealed.as_str()));
}
