//! Failure reporting: an unreachable server or refused admin credentials are reported as
//! `Unreachable`, quickly, and without any secret in the message.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tenantry_provision::backend::{BackendError, DatabaseBackend};
use tenantry_test_utils::pg_admin_url;
use url::Url;

use crate::support::{backend_at, new_tenant};

#[tokio::test]
async fn an_unreachable_server_is_reported_quickly_without_secrets() {
    let pg = backend_at("postgres://x:hunter2-secret@127.0.0.1:1/postgres");
    let started = Instant::now();
    let err = pg
        .ensure_role(&new_tenant(), &SecretString::from("tenant-secret"), 1)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("unreachable after {} ms: {err}", elapsed.as_millis());
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("tenant-secret"),
        "{text}"
    );
    assert!(text.contains("refused"), "says why: {text}");
}

#[tokio::test]
async fn refused_admin_credentials_are_unreachable() {
    let mut url = Url::parse(&pg_admin_url()).unwrap();
    url.set_username("tenantry_no_such_admin").unwrap();
    url.set_password(Some("wrong-pw")).unwrap();
    let err = backend_at(url.as_str()).list_databases().await.unwrap_err();
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("wrong-pw"), "{err:?}");
}
