//! Associated-data binding: a sealed value opens only for the table, row and field it was sealed for.

use secrecy::ExposeSecret as _;
use tenantry_core::vault::{SecretContext, VaultError};

use super::support::{ROW, ctx, fresh_vault, secret};

const OTHER_ROW: &str = "0193a5e2-7c1d-7b4e-9f00-2a6c1e0d5b12";

#[test]
fn moved_to_another_row_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let other = SecretContext::new("tenants", OTHER_ROW, "db_password");
    assert_eq!(
        vault.open(sealed.as_str(), &other).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn moved_to_another_field_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let other = SecretContext::new("tenants", ROW, "db_admin_password");
    assert_eq!(
        vault.open(sealed.as_str(), &other).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn moved_to_another_table_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let other = SecretContext::new("db_servers", ROW, "db_password");
    assert_eq!(
        vault.open(sealed.as_str(), &other).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn context_accepts_typed_row_ids() {
    let id = uuid::Uuid::now_v7();
    let vault = fresh_vault();
    let sealed = vault
        .seal(
            &secret("pw"),
            &SecretContext::new("tenants", id, "db_password"),
        )
        .unwrap();
    let by_string = SecretContext::new("tenants", id.to_string(), "db_password");
    assert_eq!(
        vault
            .open(sealed.as_str(), &by_string)
            .unwrap()
            .expose_secret(),
        "pw"
    );
}
