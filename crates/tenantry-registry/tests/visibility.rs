//! Writes by one process (here: a second registry handle with its own pool) are visible to
//! another registry handle on the same SQLite master at once — `serve` and the CLI share it.

use std::sync::Arc;

use tenantry_core::Email;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_registry::{AdminRole, Registry};
use tenantry_test_utils::{Dialect, TestDb};

#[tokio::test]
async fn a_second_handle_sees_committed_writes_immediately() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let url = DatabaseUrl::parse(db.url()).unwrap();
        let vault = Arc::new(Vault::new(KeyRing::from_keys(
            KeyRing::generate_key(),
            vec![],
        )));
        let reader = Registry::connect(&url, vault.clone()).await.unwrap();
        reader.migrate().await.unwrap();
        for i in 0..50 {
            let email = Email::parse(&format!("a{i}@example.com")).unwrap();
            assert!(reader.admin_by_email(&email).await.unwrap().is_none());
            let _ = reader.recent_audit(5).await.unwrap();
            let writer = Registry::connect(&url, vault.clone()).await.unwrap();
            writer
                .create_admin(
                    &email,
                    "$argon2id$x".into(),
                    AdminRole::Viewer,
                    tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
                        "admin.create",
                        None,
                        serde_json::json!({}),
                    ),
                )
                .await
                .unwrap();
            writer.connection().clone().close().await.unwrap();
            assert!(
                reader.admin_by_email(&email).await.unwrap().is_some(),
                "{dialect:?}: write {i} not visible"
            );
        }
    }
}
