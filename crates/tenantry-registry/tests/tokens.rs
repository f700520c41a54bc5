//! Admin API tokens: found by hash, unique names, revocation and last use. Both dialects.

use std::sync::Arc;

use chrono::{Duration, Utc};
use tenantry_core::ids::ApiTokenId;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_registry::{
    Actor, AdminRole, AuditEntry, NewApiToken, Origin, Registry, RegistryError,
};
use tenantry_test_utils::{Dialect, TestDb};

/// A migrated registry on `db`.
async fn registry(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let registry = Registry::connect(&url, vault).await.unwrap();
    registry.migrate().await.unwrap();
    registry
}

fn audit(action: &'static str) -> AuditEntry {
    let origin = Origin::from(Actor::Cli { user: "ops".into() });
    origin.entry(action, None, serde_json::json!({}))
}

/// The actions of the audit trail, oldest first.
async fn audited(registry: &Registry) -> Vec<String> {
    let mut rows = registry.recent_audit(100).await.unwrap();
    rows.reverse();
    rows.into_iter().map(|r| r.action).collect()
}

fn new_token(name: &str, hash: &str) -> NewApiToken {
    NewApiToken {
        name: name.to_owned(),
        role: AdminRole::Operator,
        token_hash: hash.to_owned(),
        expires_at: None,
        created_by: "admin:ops@example.com".to_owned(),
    }
}

#[tokio::test]
async fn tokens_are_found_by_hash_and_listed_without_it() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let expires = Utc::now() + Duration::days(30);
        let ci = registry
            .insert_api_token(
                NewApiToken {
                    expires_at: Some(expires),
                    role: AdminRole::Viewer,
                    ..new_token("ci", "hash-ci")
                },
                audit("token.create"),
            )
            .await
            .unwrap();
        assert_eq!(ci.name, "ci");
        assert_eq!(ci.role, AdminRole::Viewer);
        assert_eq!(ci.created_by, "admin:ops@example.com");
        assert!(ci.is_usable(Utc::now()), "{dialect:?}");
        assert!(!ci.is_usable(expires), "{dialect:?}");
        let deploy = registry
            .insert_api_token(new_token("deploy", "hash-deploy"), audit("token.create"))
            .await
            .unwrap();

        let found = registry.api_token_by_hash("hash-ci").await.unwrap();
        assert_eq!(found.as_ref().map(|t| t.id), Some(ci.id), "{dialect:?}");
        let found = found.unwrap();
        assert_eq!(found.name, ci.name);
        assert_eq!(found.role, ci.role);
        assert_eq!(
            found.expires_at.map(|t| t.timestamp_micros()),
            Some(expires.timestamp_micros())
        );
        assert_eq!(registry.api_token_by_hash("nope").await.unwrap(), None);

        let created = registry.recent_audit(1).await.unwrap();
        assert_eq!(created[0].action, "token.create");
        assert_eq!(
            created[0].detail["token_id"],
            deploy.id.to_string(),
            "{dialect:?}"
        );

        let listed = registry.list_api_tokens().await.unwrap();
        let ids: Vec<ApiTokenId> = listed.iter().map(|t| t.id).collect();
        assert_eq!(ids, [ci.id, deploy.id], "{dialect:?}");
        let shown = format!("{listed:?} {}", serde_json::to_string(&listed).unwrap());
        assert!(!shown.contains("hash-"), "{dialect:?}: {shown}");
        assert!(!format!("{:?}", new_token("x", "hash-x")).contains("hash-x"));
    }
}

#[tokio::test]
async fn names_and_hashes_are_unique() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        registry
            .insert_api_token(new_token("ci", "hash-1"), audit("token.create"))
            .await
            .unwrap();
        for clash in [new_token("ci", "hash-2"), new_token("other", "hash-1")] {
            let got = registry
                .insert_api_token(clash, audit("token.create"))
                .await;
            assert!(
                matches!(got, Err(RegistryError::Conflict { .. })),
                "{dialect:?}: {got:?}"
            );
        }
        let empty = registry
            .insert_api_token(new_token(" ", "hash-3"), audit("token.create"))
            .await;
        assert!(matches!(empty, Err(RegistryError::Invalid { .. })));
        assert_eq!(registry.list_api_tokens().await.unwrap().len(), 1);
        // A refused token leaves no audit row.
        assert_eq!(audited(&registry).await, ["token.create"], "{dialect:?}");
    }
}

#[tokio::test]
async fn revoking_is_reported_once_and_touching_records_the_last_use() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let token = registry
            .insert_api_token(new_token("ci", "hash-ci"), audit("token.create"))
            .await
            .unwrap();
        assert_eq!(token.last_used_at, None);

        let before = Utc::now();
        registry.touch_api_token(token.id).await.unwrap();
        let touched = registry
            .api_token_by_hash("hash-ci")
            .await
            .unwrap()
            .unwrap();
        let used = touched.last_used_at.expect("touch sets last_used_at");
        assert!(used >= before - Duration::seconds(1), "{dialect:?}");
        registry.touch_api_token(ApiTokenId::new()).await.unwrap();

        assert!(
            registry
                .revoke_api_token(token.id, audit("token.revoke"))
                .await
                .unwrap(),
            "{dialect:?}"
        );
        assert!(
            !registry
                .revoke_api_token(token.id, audit("token.revoke"))
                .await
                .unwrap(),
            "{dialect:?}"
        );
        let unknown = registry
            .revoke_api_token(ApiTokenId::new(), audit("token.revoke"))
            .await;
        assert!(
            matches!(unknown, Err(RegistryError::NotFound { .. })),
            "{dialect:?}: {unknown:?}"
        );
        let revoked = registry
            .api_token_by_hash("hash-ci")
            .await
            .unwrap()
            .unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(!revoked.is_usable(Utc::now()), "{dialect:?}");
        // A revoked token keeps its name: it stays listed.
        let again = registry
            .insert_api_token(new_token("ci", "hash-new"), audit("token.create"))
            .await;
        assert!(matches!(again, Err(RegistryError::Conflict { .. })));
        // Only the revocation that happened is audited.
        assert_eq!(
            audited(&registry).await,
            ["token.create", "token.revoke"],
            "{dialect:?}"
        );
    }
}
