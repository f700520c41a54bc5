//! Idempotency keys: one winner among concurrent claims (also across processes), replay after
//! completion, mismatch on another request, expiry and release free a key. Both dialects.

use std::sync::Arc;
use std::time::Duration;

use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_registry::{IdempotencyClaim, MAX_IDEMPOTENCY_KEY_BYTES, Registry, RegistryError};
use tenantry_test_utils::{Dialect, TestDb};

const TTL: Duration = Duration::from_secs(3600);

/// A migrated registry on `db`.
async fn registry(db: &TestDb) -> Registry {
    let registry = registry_on(db).await;
    registry.migrate().await.unwrap();
    registry
}

/// Another handle on `db` with its own pool, as another process would have.
async fn registry_on(db: &TestDb) -> Registry {
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    Registry::connect(&url, vault).await.unwrap()
}

/// Claims `key` 16 times at once: 4 times from each of `handles`' pools.
async fn race(handles: &[Registry], key: &str, ttl: Duration) -> Vec<IdempotencyClaim> {
    let mut claims = Vec::new();
    for registry in handles {
        for _ in 0..4 {
            let (registry, key) = (registry.clone(), key.to_owned());
            claims.push(tokio::spawn(async move {
                registry
                    .claim_idempotency_key("admin:ops@example.com", &key, "h1", ttl)
                    .await
            }));
        }
    }
    let mut outcomes = Vec::new();
    for claim in claims {
        outcomes.push(claim.await.unwrap().unwrap());
    }
    outcomes
}

fn assert_one_winner(dialect: Dialect, outcomes: &[IdempotencyClaim]) {
    let new = outcomes
        .iter()
        .filter(|c| **c == IdempotencyClaim::New)
        .count();
    assert_eq!(new, 1, "{dialect:?}: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|c| matches!(c, IdempotencyClaim::New | IdempotencyClaim::InFlight)),
        "{dialect:?}: {outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_key_have_exactly_one_winner() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        // Four "processes".
        let mut handles = vec![registry(&db).await];
        for _ in 0..3 {
            handles.push(registry_on(&db).await);
        }
        assert_one_winner(dialect, &race(&handles, "fresh", TTL).await);

        // Also when they race to replace an expired claim.
        let short = Duration::from_secs(1);
        let first = handles[0].claim_idempotency_key("admin:ops@example.com", "old", "h0", short);
        assert_eq!(first.await.unwrap(), IdempotencyClaim::New);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_one_winner(dialect, &race(&handles, "old", TTL).await);
    }
}

#[tokio::test]
async fn a_completed_key_replays_and_refuses_another_request() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let claim = |hash: &'static str| registry.claim_idempotency_key("s", "k", hash, TTL);
        assert_eq!(claim("h1").await.unwrap(), IdempotencyClaim::New);
        assert_eq!(claim("h1").await.unwrap(), IdempotencyClaim::InFlight);
        assert_eq!(claim("h2").await.unwrap(), IdempotencyClaim::Mismatch);

        let body = r#"{"id":"0190"}"#.to_owned();
        assert!(
            registry
                .complete_idempotency_key("s", "k", 201, &body)
                .await
                .unwrap()
        );
        let replay = IdempotencyClaim::Replay { status: 201, body };
        assert_eq!(claim("h1").await.unwrap(), replay, "{dialect:?}");
        assert_eq!(claim("h1").await.unwrap(), replay, "{dialect:?}");
        assert_eq!(claim("h2").await.unwrap(), IdempotencyClaim::Mismatch);
        // Completing twice does not overwrite the stored response; releasing does not drop it.
        let again = registry.complete_idempotency_key("s", "k", 500, "");
        assert!(!again.await.unwrap(), "{dialect:?}");
        registry.release_idempotency_key("s", "k").await.unwrap();
        assert_eq!(claim("h1").await.unwrap(), replay, "{dialect:?}");

        // Keys are per scope.
        let other = registry.claim_idempotency_key("other", "k", "h2", TTL);
        assert_eq!(other.await.unwrap(), IdempotencyClaim::New, "{dialect:?}");
    }
}

#[tokio::test]
async fn a_released_claim_lets_a_retry_claim_the_key() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let claim = || registry.claim_idempotency_key("s", "k", "h1", TTL);
        assert_eq!(claim().await.unwrap(), IdempotencyClaim::New);
        registry.release_idempotency_key("s", "k").await.unwrap();
        assert_eq!(claim().await.unwrap(), IdempotencyClaim::New, "{dialect:?}");
        // A released claim can no longer be completed.
        registry.release_idempotency_key("s", "k").await.unwrap();
        let late = registry.complete_idempotency_key("s", "k", 200, "{}");
        assert!(!late.await.unwrap(), "{dialect:?}");
    }
}

#[tokio::test]
async fn an_expired_key_can_be_claimed_again_and_is_pruned() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let short = Duration::from_secs(1);
        let claim = |hash| registry.claim_idempotency_key("s", "k", hash, short);
        assert_eq!(claim("h1").await.unwrap(), IdempotencyClaim::New);
        assert!(
            registry
                .complete_idempotency_key("s", "k", 200, "first")
                .await
                .unwrap()
        );
        let kept = registry.claim_idempotency_key("s", "kept", "h", TTL);
        assert_eq!(kept.await.unwrap(), IdempotencyClaim::New);
        assert_eq!(registry.prune_idempotency_keys().await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(1100)).await;

        // Expired: another request may use the key, and gets a fresh claim.
        assert_eq!(
            claim("h2").await.unwrap(),
            IdempotencyClaim::New,
            "{dialect:?}"
        );
        assert_eq!(claim("h2").await.unwrap(), IdempotencyClaim::InFlight);
        assert_eq!(claim("h1").await.unwrap(), IdempotencyClaim::Mismatch);
        tokio::time::sleep(Duration::from_millis(1100)).await;

        assert_eq!(registry.prune_idempotency_keys().await.unwrap(), 1);
        let kept = registry.claim_idempotency_key("s", "kept", "h", TTL);
        assert_eq!(
            kept.await.unwrap(),
            IdempotencyClaim::InFlight,
            "{dialect:?}"
        );
    }
}

#[tokio::test]
async fn keys_are_1_to_255_bytes() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let longest = "é".repeat(MAX_IDEMPOTENCY_KEY_BYTES / 2) + "x";
        assert_eq!(longest.len(), MAX_IDEMPOTENCY_KEY_BYTES);
        let claim = registry.claim_idempotency_key("s", &longest, "h", TTL);
        assert_eq!(claim.await.unwrap(), IdempotencyClaim::New, "{dialect:?}");
        for bad in [String::new(), longest.clone() + "x"] {
            let claim = registry.claim_idempotency_key("s", &bad, "h", TTL).await;
            assert!(
                matches!(claim, Err(RegistryError::Invalid { .. })),
                "{dialect:?}: {claim:?}"
            );
            let complete = registry.complete_idempotency_key("s", &bad, 200, "{}");
            assert!(matches!(complete.await, Err(RegistryError::Invalid { .. })));
        }
    }
}

/// A claim never completed (its process died, or storing the answer failed) holds its key for
/// the in-flight lease only, not for the key's whole lifetime; a completed one keeps replaying.
#[tokio::test]
async fn an_open_claim_lapses_after_its_lease_and_a_completed_one_does_not() {
    use sea_orm::{ConnectionTrait as _, Statement};
    use tenantry_registry::IN_FLIGHT_LEASE;

    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let claim = |key| registry.claim_idempotency_key("s", key, "h1", TTL);
        assert_eq!(claim("open").await.unwrap(), IdempotencyClaim::New);
        assert_eq!(claim("done").await.unwrap(), IdempotencyClaim::New);
        let stored = registry.complete_idempotency_key("s", "done", 201, "{}");
        assert!(stored.await.unwrap());
        assert_eq!(claim("open").await.unwrap(), IdempotencyClaim::InFlight);

        // Both claims made a lease and a minute ago.
        let conn = db.connect().await;
        let backend = conn.get_database_backend();
        let placeholder = if dialect == Dialect::Postgres {
            "$1"
        } else {
            "?"
        };
        let long_ago = chrono::Utc::now()
            - chrono::Duration::from_std(IN_FLIGHT_LEASE + Duration::from_secs(60)).unwrap();
        let sql = format!("UPDATE idempotency_keys SET created_at = {placeholder}");
        let backdate = Statement::from_sql_and_values(backend, sql, [long_ago.into()]);
        assert_eq!(conn.execute_raw(backdate).await.unwrap().rows_affected(), 2);

        assert_eq!(
            claim("open").await.unwrap(),
            IdempotencyClaim::New,
            "{dialect:?}"
        );
        let replay = IdempotencyClaim::Replay {
            status: 201,
            body: "{}".into(),
        };
        assert_eq!(claim("done").await.unwrap(), replay, "{dialect:?}");
    }
}
