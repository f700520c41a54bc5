//! Tenants made in-process for the binary to act on: through the CLI each creation costs a
//! process start and an argon2 hash (~0.2 s in a debug build).

use std::sync::Arc;

use secrecy::SecretString;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, Subdomain};
use tenantry_provision::{CreateTenant, Provisioner};
use tenantry_registry::{Actor, Registry};

use super::Master;

/// The registry the binary uses, opened in-process with the master's key.
pub async fn registry(master: &Master) -> Registry {
    let ring = KeyRing::parse(&SecretString::from(master.key.clone())).unwrap();
    let url = DatabaseUrl::parse(master.db.url()).unwrap();
    Registry::connect(&url, Arc::new(Vault::new(ring)))
        .await
        .unwrap()
}

/// Creates `subdomains` (SQLite tenants) against the master and data dir the binary uses.
pub async fn create_in_process(master: &Master, subdomains: &[String]) {
    let provisioner = Provisioner::new(registry(master).await, master.db.dir());
    let hash = hash_password(&SecretString::from("tenant-admin-pw".to_owned())).unwrap();
    for subdomain in subdomains {
        let request = CreateTenant {
            subdomain: Subdomain::parse(subdomain, &[]).unwrap(),
            name: format!("{subdomain} Ltd"),
            plan: PlanId::parse("standard").unwrap(),
            admin_email: Email::parse(&format!("admin@{subdomain}.example")).unwrap(),
            admin_password_hash: hash.clone(),
            server: None,
            origin: Actor::Cli {
                user: "test".into(),
            }
            .into(),
        };
        provisioner
            .create(request)
            .await
            .unwrap_or_else(|e| panic!("create {subdomain}: {e}"));
    }
}
