//! The chart of accounts (ledgers read, renamed, moved and deleted) and the bounds of every list.

use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

use super::support::{Api, body, dates, invalid_fields, message_of};
use crate::common::{TestApp, assert_error};

pub(crate) async fn ledgers_are_read_renamed_moved_and_deleted(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "led").await;
    let ids = api.ledgers().await;
    let (assets, cash, expenses, rent, capital) = (
        ids["1000"],
        ids["1100"],
        ids["5000"],
        ids["5200"],
        ids["3100"],
    );
    let at = |id: i64| format!("/api/v1/ledgers/{id}");

    let read = body(api.get(&at(cash)).await, 200).await;
    assert_eq!(
        read,
        json!({"id": cash, "code": "1100", "name": "Cash", "type": "asset", "parent_id": assets})
    );
    assert_error(api.get(&at(999_999)).await, 404, "not_found").await;
    assert_error(api.get("/api/v1/ledgers/cash").await, 404, "not_found").await;

    let renamed = body(
        api.patch(&at(cash), json!({"name": " Petty Cash "})).await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Petty Cash");
    assert_eq!(
        renamed["parent_id"], assets,
        "an absent parent_id is unchanged"
    );
    assert_eq!(body(api.get(&at(cash)).await, 200).await, renamed);

    // A parent must exist, have the same type and not be the ledger or one of its children.
    for (ledger, parent, why) in [
        (cash, json!(expenses), "same type"),
        (assets, json!(cash), "own ancestor"),
        (cash, json!(cash), "own ancestor"),
        (cash, json!(999_999), "no such ledger"),
    ] {
        let (fields, body) =
            invalid_fields(api.patch(&at(ledger), json!({"parent_id": parent})).await).await;
        assert_eq!(fields, ["parent_id"]);
        assert!(message_of(&body, "parent_id").contains(why), "{body}");
    }
    let (fields, _) = invalid_fields(api.patch(&at(cash), json!({"name": ""})).await).await;
    assert_eq!(fields, ["name"]);
    // The code and type are not editable: saying otherwise is refused, not ignored.
    let (fields, _) = invalid_fields(api.patch(&at(cash), json!({"code": "1199"})).await).await;
    assert_eq!(fields, ["body"]);
    assert_error(
        api.patch(&at(999_999), json!({"name": "X"})).await,
        404,
        "not_found",
    )
    .await;
    let top = body(api.patch(&at(cash), json!({"parent_id": null})).await, 200).await;
    assert_eq!(top["parent_id"], Value::Null);
    let back = body(
        api.patch(&at(cash), json!({"parent_id": assets})).await,
        200,
    )
    .await;
    assert_eq!(back["parent_id"], assets);

    // Creating under a parent checks the type too.
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/ledgers",
            json!({"code": "5220", "name": "Odd", "type": "asset", "parent_id": rent}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["parent_id"]);
    let office = body(
        api.post(
            "/api/v1/ledgers",
            json!({"code": "5210", "name": "Office rent", "type": "expense", "parent_id": rent}),
        )
        .await,
        201,
    )
    .await;
    let office = office["id"].as_i64().unwrap();

    // In use: children or postings keep a ledger.
    let body409 = assert_error(api.delete(&at(rent)).await, 409, "conflict").await;
    assert!(body409.to_string().contains("sub-ledger"), "{body409}");
    api.voucher(
        "2024-01-02",
        json!([{"ledger_id": cash, "debit": 100}, {"ledger_id": capital, "credit": 100}]),
    )
    .await;
    let body409 = assert_error(api.delete(&at(cash)).await, 409, "conflict").await;
    assert!(body409.to_string().contains("voucher line"), "{body409}");

    // Viewers read, but do not change the chart.
    let (_, viewer) = api.new_user("viewer@led.example", "viewer").await;
    assert_eq!(viewer.get(&at(office)).await.status(), 200);
    assert_error(
        viewer.patch(&at(office), json!({"name": "X"})).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(viewer.delete(&at(office)).await, 403, "forbidden").await;

    assert_eq!(api.delete(&at(office)).await.status(), 204);
    assert_error(api.get(&at(office)).await, 404, "not_found").await;
    assert_error(api.delete(&at(office)).await, 404, "not_found").await;
}

pub(crate) async fn pagination_is_bounded_everywhere(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "pg").await;
    for list in [
        "/api/v1/ledgers",
        "/api/v1/users",
        "/api/v1/vouchers",
        "/api/v1/invoices",
    ] {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("page=0", "page"),
            ("page=-1", "page"),
        ] {
            let (fields, _) = invalid_fields(api.get(&format!("{list}?{query}")).await).await;
            assert_eq!(fields, [field], "{list}?{query}");
        }
        let page = body(api.get(list).await, 200).await;
        assert_eq!(
            (page["page"].as_u64(), page["limit"].as_u64()),
            (Some(1), Some(50))
        );
    }

    let chart = tenantry_app::DEFAULT_CHART.len();
    let all = body(api.get("/api/v1/ledgers?limit=100").await, 200).await;
    assert_eq!(all["data"].as_array().unwrap().len(), chart);
    let last = body(api.get("/api/v1/ledgers?limit=10&page=3").await, 200).await;
    assert_eq!(last["data"].as_array().unwrap().len(), chart - 20);
    assert_eq!(last["total"], chart);
    // The ledger list's statement is built once and reused: each page is still its own slice of
    // the code order, and a page past the end still carries the total.
    let second = body(api.get("/api/v1/ledgers?limit=10&page=2").await, 200).await;
    assert_eq!(second["data"][0], all["data"][10]);
    assert_eq!(second["data"][9], all["data"][19]);
    let past = body(api.get("/api/v1/ledgers?limit=10&page=99").await, 200).await;
    assert_eq!(
        (
            past["data"].as_array().unwrap().len(),
            past["total"].as_u64()
        ),
        (0, Some(chart as u64))
    );

    let ids = api.ledgers().await;
    let lines =
        json!([{"ledger_id": ids["1100"], "debit": 1}, {"ledger_id": ids["4100"], "credit": 1}]);
    for day in ["2024-07-01", "2024-07-02", "2024-07-03"] {
        api.voucher(day, lines.clone()).await;
    }
    let sizes = [(2, 1, 2), (2, 2, 1), (2, 3, 0), (100, 1, 3)];
    for (limit, page, len) in sizes {
        let res = api
            .get(&format!("/api/v1/vouchers?limit={limit}&page={page}"))
            .await;
        let got = body(res, 200).await;
        assert_eq!(
            got["data"].as_array().unwrap().len(),
            len,
            "limit {limit} page {page}"
        );
        assert_eq!(
            (got["total"].as_u64(), got["limit"].as_u64()),
            (Some(3), Some(limit))
        );
    }
    let second = body(api.get("/api/v1/vouchers?limit=1&page=2").await, 200).await;
    assert_eq!(dates(&second), ["2024-07-02"]);
}
