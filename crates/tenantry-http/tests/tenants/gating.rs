//! Status gating: what each tenant status answers, and how soon a status change is seen.

use tenantry_provision::Step;
use tenantry_registry::Actor;
use tenantry_test_utils::Dialect;

use super::support::host;
use crate::common::{TestApp, assert_error, unique};

#[tokio::test(flavor = "multi_thread")]
async fn status_gating_follows_the_design_table() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let active = unique("on");
    let suspended = unique("off");
    let provisioning = unique("new");
    let active_row = app.create(&active).await;
    app.create(&suspended).await;
    app.provisioner
        .suspend(&suspended.as_str().into(), "unpaid", &Actor::System.into())
        .await
        .unwrap();
    app.create_stopped_after(&provisioning, Step::Migrate).await;

    let token = app.token(&active_row);
    let get = |sub: &str| {
        app.get(&host(sub), "/api/v1/ledgers")
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get(&active).await.unwrap().status(), 200);
    let body = assert_error(get(&suspended).await.unwrap(), 403, "tenant_suspended").await;
    assert!(
        !body.to_string().contains("unpaid"),
        "reason leaked: {body}"
    );
    let res = get(&provisioning).await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 503, "tenant_provisioning").await;
    assert_error(get("nosuch").await.unwrap(), 404, "tenant_not_found").await;
    // The apex serves no tenant, and neither do nested or foreign hosts.
    for other in [
        "localhost",
        &format!("x.{active}.localhost"),
        "example.com",
        "127.0.0.1",
    ] {
        assert_error(
            app.get(other, "/api/v1/ledgers").send().await.unwrap(),
            404,
            "tenant_not_found",
        )
        .await;
    }
    // Gating comes before routing: an unknown route of a suspended tenant is still 403.
    assert_error(
        app.get(&host(&suspended), "/api/v1/nope")
            .send()
            .await
            .unwrap(),
        403,
        "tenant_suspended",
    )
    .await;
    assert_error(
        app.get(&host(&active), "/api/v1/nope")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_changes_made_elsewhere_are_seen_within_a_second() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let sub = unique("re");
    let row = app.create(&sub).await;
    let token = app.token(&row);
    let get = || {
        app.get(&host(&sub), "/api/v1/ledgers")
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);
    app.provisioner
        .suspend(&sub.as_str().into(), "audit", &Actor::System.into())
        .await
        .unwrap();
    app.provisioner
        .reactivate(&sub.as_str().into(), &Actor::System.into())
        .await
        .unwrap();
    app.provisioner
        .suspend(&sub.as_str().into(), "audit", &Actor::System.into())
        .await
        .unwrap();
    // The status changed behind the server's back (as from the CLI): seen within the TTL.
    let wait_for = |want: u16| async move {
        // The registry change feed: every `serve` sees a change within a second.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let status = get().await.unwrap().status().as_u16();
            if status == want || std::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    assert_eq!(wait_for(403).await, 403, "suspension not seen within 1 s");
    app.provisioner
        .reactivate(&sub.as_str().into(), &Actor::System.into())
        .await
        .unwrap();
    assert_eq!(wait_for(200).await, 200, "reactivation not seen within 1 s");
}
