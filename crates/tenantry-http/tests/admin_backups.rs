//! Backups over the admin API: take and list, restore in place while clients keep reading,
//! clone into a new tenant, recover a deleted one, and the clear errors of bad requests.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::admin::APEX;
use common::backups::{Read, WAIT, read_ledgers};
use common::{TestApp, assert_error, time_until, unique};
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

/// Reads the tenant's ledgers at the `serve` listening on `addr` until stopped; every answer,
/// in order.
fn spawn_reader(
    app: &TestApp,
    addr: SocketAddr,
    sub: &str,
    token: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Read>> {
    let client = app.client.clone();
    let url = format!("http://{addr}/api/v1/ledgers?limit=100");
    let (host, token) = (format!("{sub}.localhost:{}", addr.port()), token.to_owned());
    tokio::spawn(async move {
        let mut reads = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            reads.push(read_ledgers(&client, &url, &host, &token).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reads
    })
}

/// Checks what a client read through a restore: each answer is the old data, the restored data
/// or a 503 to retry, never the old data once it saw the restored; and it saw both. A short
/// switch is only waited through (no 503 needed): `fence.rs` covers the long one.
fn check_reads(reads: &[Read], old_data: &[String], restored_data: &[String], at: &str) {
    let (mut old, mut restored, mut maintenance) = (0, 0, 0);
    for (i, read) in reads.iter().enumerate() {
        let what = format!(
            "{at}, read {i} of {}: {} {}",
            reads.len(),
            read.status,
            read.body
        );
        match (read.status, &read.codes) {
            (200, Some(codes)) if codes == restored_data => restored += 1,
            (200, Some(codes)) if codes == old_data => {
                assert_eq!(restored, 0, "old data after restored data: {what}");
                old += 1;
            }
            (200, _) => panic!("neither the old nor the restored data: {what}"),
            (503, _) => {
                assert_eq!(read.body["error"]["code"], "tenant_maintenance", "{what}");
                assert!(read.retry_after.is_some(), "no Retry-After: {what}");
                maintenance += 1;
            }
            _ => panic!("{what}"),
        }
    }
    assert!(
        old > 0 && restored > 0,
        "{at}: {old} old, {maintenance} 503, {restored} restored"
    );
}

async fn round_trip(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let admin = app.admin_token("operator").await;
    let sub = unique("bk");
    let tenant = app.create(&sub).await;
    let token = app.token(&tenant);
    app.add_ledger(&sub, &token, "9001").await;
    app.add_ledger(&sub, &token, "9002").await;
    let backed_up = app.ledger_codes(&sub, &token).await;

    let backup = app.take_backup(&admin, &sub).await;
    assert_eq!(backup["tenant"], tenant.id.to_string(), "{backup}");
    assert!(backup["bytes"].as_u64().unwrap() > 0, "{backup}");
    let sha = backup["sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{backup}"
    );
    assert!(!backup["key_id"].as_str().unwrap().is_empty(), "{backup}");
    assert!(backup["format_version"].as_i64().unwrap() >= 1, "{backup}");
    assert_eq!(
        backup["schema_version"],
        json!(tenant.schema_version),
        "{backup}"
    );
    let id = backup["id"].as_str().unwrap().to_owned();
    let res = app
        .get(APEX, &format!("/admin/v1/tenants/{sub}/backups"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let listed: Value = res.json().await.unwrap();
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["data"][0]["state"], "completed", "{listed}");

    app.add_ledger(&sub, &token, "9003").await;
    app.add_ledger(&sub, &token, "9004").await;
    let written_since = app.ledger_codes(&sub, &token).await;
    assert_eq!(written_since.len(), backed_up.len() + 2);

    // Clients keep reading through the restore, here and at a second `serve`.
    let other = app.second_instance();
    let stop = Arc::new(AtomicBool::new(false));
    let readers =
        [app.addr, other.addr].map(|addr| spawn_reader(&app, addr, &sub, &token, stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let path = format!("/admin/v1/tenants/{sub}/restore");
    let (status, op) = app
        .admin_action(&admin, &path, &json!({ "backup": id }))
        .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["kind"], "tenant.restore", "{op}");
    let result = &op["result"];
    assert_eq!(result["backup"], id.as_str(), "{op}");
    assert_eq!(result["tenant"]["subdomain"], sub.as_str(), "{op}");
    assert!(result["prepare_ms"].is_u64(), "{op}");
    assert!(result["switch_ms"].is_u64(), "{op}");
    // Until this instance has seen the swap, then a little longer.
    let started = Instant::now();
    while app.read_chart(&sub, &token).await.codes.as_ref() != Some(&backed_up) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not restored after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The other instance hears of it within the change feed's delivery bound.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let [here, there] = readers;
    check_reads(
        &here.await.unwrap(),
        &written_since,
        &backed_up,
        "this instance",
    );
    check_reads(
        &there.await.unwrap(),
        &written_since,
        &backed_up,
        "the second instance",
    );
    assert_eq!(app.ledger_codes(&sub, &token).await, backed_up);
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_restore_round_trip_over_the_admin_api_sqlite() {
    round_trip(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_restore_round_trip_over_the_admin_api_postgres() {
    round_trip(Dialect::Postgres).await;
}

/// On PostgreSQL: a clone and a recovery each create a role and a database from a backup.
#[tokio::test(flavor = "multi_thread")]
async fn clone_and_recover_over_the_admin_api() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let admin = app.admin_token("operator").await;
    let src = unique("src");
    let tenant = app.create(&src).await;
    let token = app.token(&tenant);
    app.add_ledger(&src, &token, "9101").await;
    let codes = app.ledger_codes(&src, &token).await;
    let backup = app.take_backup(&admin, &src).await;

    // A clone: a new tenant on its own host, with the source's data and users.
    let copy = unique("copy");
    let restore = format!("/admin/v1/tenants/{src}/restore");
    let body = json!({"backup": backup["id"], "into": copy, "name": "Copy Ltd"});
    let (status, op) = app.admin_action(&admin, &restore, &body).await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["state"], "succeeded", "{op}");
    let clone = &op["result"];
    assert_eq!(clone["subdomain"], copy.as_str(), "{op}");
    assert_eq!(clone["name"], "Copy Ltd", "{op}");
    assert_eq!(clone["status"], "active", "{op}");
    assert_ne!(clone["id"], tenant.id.to_string(), "{op}");
    let res = app
        .post(&format!("{copy}.localhost"), "/api/v1/auth/login")
        .json(&json!({"email": format!("admin@{src}.example"), "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let copy_token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.ledger_codes(&copy, &copy_token).await, codes);
    // Independent: a write to the clone is not in the source, and tokens do not cross over.
    app.add_ledger(&copy, &copy_token, "9102").await;
    assert_eq!(app.ledger_codes(&src, &token).await, codes);
    let crossed = app.get(&format!("{copy}.localhost"), "/api/v1/ledgers");
    let crossed = crossed.bearer_auth(&token).send().await.unwrap();
    assert_error(crossed, 403, "wrong_tenant").await;

    // Deleted with its final backup (the default), then recovered with its data.
    let host = format!("{src}.localhost");
    let status_on_host = || async {
        let res = app.get(&host, "/api/v1/ledgers").send().await.unwrap();
        res.status().as_u16()
    };
    app.delete_tenant(&admin, &src, json!({ "confirm": src }))
        .await;
    time_until(404, status_on_host).await;
    let recover = json!({ "subdomain": src });
    let (status, op) = app
        .admin_action(&admin, "/admin/v1/tenants/recover", &recover)
        .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["result"]["id"], tenant.id.to_string(), "{op}");
    assert_eq!(op["result"]["status"], "active", "{op}");
    time_until(401, status_on_host).await;
    let token = app.login(&src).await;
    assert_eq!(app.ledger_codes(&src, &token).await, codes);

    // Deleted without one: gone for good.
    let body = json!({ "confirm": src, "backup": false });
    app.delete_tenant(&admin, &src, body).await;
    time_until(404, status_on_host).await;
    let res = app
        .post(APEX, "/admin/v1/tenants/recover")
        .bearer_auth(&admin)
        .header("prefer", WAIT)
        .json(&recover)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
    // The clone lives on.
    assert_eq!(
        app.ledger_codes(&copy, &copy_token).await.len(),
        codes.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_backup_requests_are_clear_errors() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let admin = app.admin_token("operator").await;
    let (a, b) = (unique("bada"), unique("badb"));
    let tenant = app.create(&a).await;
    app.create(&b).await;
    let token = app.token(&tenant);
    app.add_ledger(&a, &token, "9201").await;
    let codes = app.ledger_codes(&a, &token).await;
    let ours = app.take_backup(&admin, &a).await;
    let theirs = app.take_backup(&admin, &b).await;
    let restore = |as_token: &str, body: Value| {
        let req = app
            .post(APEX, &format!("/admin/v1/tenants/{a}/restore"))
            .bearer_auth(as_token)
            .header("prefer", WAIT)
            .json(&body);
        async move { req.send().await.unwrap() }
    };

    let unknown = json!({ "backup": uuid::Uuid::new_v4() });
    assert_error(restore(&admin, unknown).await, 404, "not_found").await;
    let another = json!({ "backup": theirs["id"] });
    assert_error(restore(&admin, another).await, 404, "not_found").await;
    // A clone's source is the tenant in the path: it must own the backup too.
    let another = json!({ "backup": theirs["id"], "into": unique("stolen") });
    assert_error(restore(&admin, another).await, 404, "not_found").await;
    let err = assert_error(
        restore(&admin, json!({ "backup": "not-a-uuid" })).await,
        422,
        "validation_failed",
    )
    .await;
    // json_body's serde errors carry no field path: the field is `body`, the message says why.
    assert!(err.to_string().contains("UUID"), "{err}");

    // A viewer sees backups but takes, restores and recovers none.
    let viewer = app.admin_token("viewer").await;
    let listed = app
        .get(APEX, &format!("/admin/v1/tenants/{a}/backups"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let ours_only = json!({ "backup": ours["id"] });
    assert_error(restore(&viewer, ours_only.clone()).await, 403, "forbidden").await;
    for (path, body) in [
        (format!("/admin/v1/tenants/{a}/backups"), json!({})),
        (
            "/admin/v1/tenants/recover".to_owned(),
            json!({ "subdomain": a }),
        ),
    ] {
        let res = app.post(APEX, &path).bearer_auth(&viewer).json(&body);
        assert_error(res.send().await.unwrap(), 403, "forbidden").await;
    }

    // A file damaged in the store: the restore is verified before anything is touched, so it
    // fails as an operation and the tenant keeps serving its data.
    let file = ours["location"].as_str().unwrap();
    let file = file.strip_prefix("file://").expect("a local backup");
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(file, bytes).unwrap();
    let res = restore(&admin, ours_only).await;
    assert_eq!(res.status(), 200);
    let op: Value = res.json().await.unwrap();
    assert_eq!(op["state"], "failed", "{op}");
    assert_eq!(op["result"], Value::Null, "{op}");
    let error = op["error"].as_str().unwrap();
    let id = ours["id"].as_str().unwrap();
    assert!(
        error.contains(id) && error.contains("cannot be used"),
        "{op}"
    );
    assert_eq!(app.ledger_codes(&a, &token).await, codes);
    // A clone from it is refused before it starts.
    let clone = json!({ "backup": id, "into": unique("fromdamaged") });
    assert_error(restore(&admin, clone).await, 422, "backup_unusable").await;
}
