//! SQLite tenants: one file each; the budget bounds open files across all of them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{MapResolver, ping, pools};
use secrecy::SecretString;
use tenantry_pool::PoolConfig;

#[tokio::test]
async fn sqlite_tenants_share_a_file_budget() {
    let dir = tempfile::tempdir().unwrap();
    let resolver = Arc::new(MapResolver::default());
    let ids: Vec<_> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("t{i}.db"));
            let url = SecretString::from(format!("sqlite://{}?mode=rwc", path.display()));
            resolver.add_local(url, 2)
        })
        .collect();
    let pools = pools(
        PoolConfig {
            server_budget: 2,
            acquire_timeout: Duration::from_secs(2),
            ..PoolConfig::default()
        },
        resolver,
    );
    for &t in &ids {
        let conn = pools.acquire(t).await.unwrap();
        ping(&conn).await;
    }
    let stats = pools.stats();
    let local = stats
        .servers
        .iter()
        .find(|s| s.server.is_none())
        .expect("the SQLite budget");
    assert_eq!((local.open, local.budget), (2, 2), "{stats:?}");
    assert_eq!(
        stats.steals, 1,
        "the third tenant took the first one's idle file handle"
    );

    // A missing file is an error, never a new empty tenant (`mode=rw` targets).
    let missing = dir.path().join("gone.db");
    let resolver2 = Arc::new(MapResolver::default());
    let gone = resolver2.add(
        SecretString::from(format!("sqlite://{}?mode=rw", missing.display())),
        1,
    );
    let pools2 = common::pools(PoolConfig::default(), resolver2);
    assert!(pools2.acquire(gone).await.is_err());
    assert!(!missing.exists());
}
