//! Isolation between tenants: one tenant's ids and tokens mean nothing on another.

use serde_json::json;
use tenantry_test_utils::Dialect;

use super::support::{Api, body, invalid_fields};
use crate::common::{TestApp, assert_error};

pub(crate) async fn other_tenants_ids_do_not_exist_here(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let a = Api::new(&app, "a").await;
    let b = Api::new(&app, "b").await;
    let ids = a.ledgers().await;
    let lines = json!([{"ledger_id": ids["1100"], "debit": 700}, {"ledger_id": ids["4100"], "credit": 700}]);
    let voucher = a.voucher("2024-06-01", lines).await["id"].as_i64().unwrap();
    let invoice = body(
        a.post(
            "/api/v1/invoices",
            json!({"customer": "Only A", "date": "2024-06-01",
                   "lines": [{"description": "A", "quantity": 1, "unit_price": 700}]}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let (user, _) = a.new_user("someone@a.example", "viewer").await;
    let ledger = body(
        a.post(
            "/api/v1/ledgers",
            json!({"code": "9900", "name": "Only A", "type": "expense"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();

    for path in [
        format!("/api/v1/vouchers/{voucher}"),
        format!("/api/v1/invoices/{invoice}"),
        format!("/api/v1/users/{user}"),
        format!("/api/v1/ledgers/{ledger}"),
    ] {
        assert_eq!(a.get(&path).await.status(), 200, "{path} on A");
        assert_error(b.get(&path).await, 404, "not_found").await;
    }
    assert_error(
        b.patch(&format!("/api/v1/users/{user}"), json!({"active": false}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        b.delete(&format!("/api/v1/ledgers/{ledger}")).await,
        404,
        "not_found",
    )
    .await;
    // A voucher of B naming A's new ledger names no ledger of B's.
    let b_ids = b.ledgers().await;
    let (fields, _) = invalid_fields(
        b.post(
            "/api/v1/vouchers",
            json!({"date": "2024-06-01", "lines": [
                {"ledger_id": ledger, "debit": 1}, {"ledger_id": b_ids["4100"], "credit": 1},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines[0].ledger_id"]);
    let b_report = body(b.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(b_report["totals"], json!({"debit": 0, "credit": 0}));
    assert_eq!(body(b.get("/api/v1/vouchers").await, 200).await["total"], 0);

    // A's token is no key to B, even for an id B happens to have too.
    let b_voucher = b
        .voucher(
            "2024-06-02",
            json!([{"ledger_id": b_ids["1100"], "debit": 5}, {"ledger_id": b_ids["4100"], "credit": 5}]),
        )
        .await;
    assert_eq!(b_voucher["id"], voucher, "ids are per tenant database");
    assert_eq!(b_voucher["total"], 5);
    let a_on_b = b.as_user(a.token.clone());
    assert_error(
        a_on_b.get(&format!("/api/v1/vouchers/{voucher}")).await,
        403,
        "wrong_tenant",
    )
    .await;
    let mine = body(a.get(&format!("/api/v1/vouchers/{voucher}")).await, 200).await;
    assert_eq!(mine["total"], 700);
}
