//! Helpers shared by the themes: the usual secret context, vaults over given keys, and
//! splitting a sealed value into its parts and back.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use tenantry_core::vault::{KeyRing, MasterKey, SecretContext, Vault};

pub(crate) const ROW: &str = "0193a5e2-7c1d-7b4e-9f00-2a6c1e0d5b11";

pub(crate) fn ctx() -> SecretContext {
    SecretContext::new("tenants", ROW, "db_password")
}

pub(crate) fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

pub(crate) fn vault_with(keys: &[&MasterKey]) -> Vault {
    let copy = |k: &MasterKey| MasterKey::from_base64(k.to_base64().expose_secret()).unwrap();
    let (current, old) = keys.split_first().expect("at least one key");
    Vault::new(KeyRing::from_keys(
        copy(current),
        old.iter().map(|k| copy(k)).collect(),
    ))
}

pub(crate) fn fresh_vault() -> Vault {
    Vault::new(KeyRing::from_keys(KeyRing::generate_key(), Vec::new()))
}

/// Split a sealed string into its three dot-separated parts, payload decoded.
pub(crate) fn split(sealed: &str) -> (String, String, Vec<u8>) {
    let parts: Vec<&str> = sealed.split('.').collect();
    assert_eq!(parts.len(), 3, "{sealed}");
    let payload = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    (parts[0].to_owned(), parts[1].to_owned(), payload)
}

pub(crate) fn join(version: &str, key_id: &str, payload: &[u8]) -> String {
    format!("{version}.{key_id}.{}", URL_SAFE_NO_PAD.encode(payload))
}
