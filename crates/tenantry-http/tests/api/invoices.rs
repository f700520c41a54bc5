//! Invoices: numbered, validated and totalled by the server.

use serde_json::json;
use tenantry_test_utils::Dialect;

use super::support::{Api, body, dates, invalid_fields};
use crate::common::{TestApp, assert_error};

pub(crate) async fn invoices_are_totalled_by_the_server(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "inv").await;

    let created = body(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "Globex", "date": "2024-04-01", "due_date": "2024-05-01",
            "lines": [
                {"description": "Widgets", "quantity": 3, "unit_price": 1250},
                {"description": "Setup", "quantity": 1, "unit_price": 9999},
                {"description": "Goodwill", "quantity": 2, "unit_price": 0},
            ]}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["number"], format!("INV-{id:06}"));
    assert_eq!(created["customer_name"], "Globex");
    assert_eq!(created["due_date"], "2024-05-01");
    assert_eq!(created["total"], 3 * 1250 + 9999);
    let amounts: Vec<i64> = created["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [3750, 9999, 0]);
    assert_eq!(
        body(api.get(&format!("/api/v1/invoices/{id}")).await, 200).await,
        created
    );
    assert_error(api.get("/api/v1/invoices/999999").await, 404, "not_found").await;

    let own_number = json!({"number": "2024-0001", "customer_name": "Initech",
                            "date": "2024-04-02",
                            "lines": [{"description": "Consulting", "quantity": 10,
                                       "unit_price": 15_000}]});
    let second = body(api.post("/api/v1/invoices", own_number.clone()).await, 201).await;
    assert_eq!(second["number"], "2024-0001");
    assert_eq!(
        second["due_date"], "2024-04-02",
        "due on receipt by default"
    );
    assert_eq!(second["total"], 150_000);
    let stored = api.counts().await;
    assert_eq!((stored.invoices, stored.invoice_lines), (2, 4));

    assert_error(
        api.post("/api/v1/invoices", own_number).await,
        409,
        "conflict",
    )
    .await;
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"number": "inv-000099", "customer": "X", "date": "2024-04-03",
                   "lines": [{"description": "Y", "quantity": 1, "unit_price": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        fields,
        ["number"],
        "the generated numbers' shape is reserved"
    );
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "", "date": "2024-04-10", "due_date": "2024-04-01", "lines": [
                {"description": "", "quantity": 0, "unit_price": -1, "ledger_id": 5},
                {"description": "Half", "quantity": 1.5, "unit_price": "10"},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        fields,
        [
            "customer_name",
            "due_date",
            "lines[0].description",
            "lines[0].quantity",
            "lines[0].unit_price",
            "lines[0].ledger_id",
            "lines[1].quantity",
            "lines[1].unit_price",
        ]
    );
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "Big", "date": "2024-04-03", "lines": [
                {"description": "A", "quantity": 1_000_000, "unit_price": 600_000_000},
                {"description": "B", "quantity": 1_000_000, "unit_price": 600_000_000},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines"], "a total over the limit is refused");
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "X", "date": "2024-04-03", "total": 1, "lines": [
                {"description": "A", "quantity": 1, "unit_price": 3},
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["body"], "the total is the server's to compute");
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/invoices",
            json!({"customer": "X", "date": "2024-04-03"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines"]);
    assert_eq!(api.counts().await, stored);

    let (_, viewer) = api.new_user("viewer@inv.example", "viewer").await;
    let res = viewer
        .post(
            "/api/v1/invoices",
            json!({"customer": "X", "date": "2024-04-03",
                   "lines": [{"description": "Y", "quantity": 1, "unit_price": 1}]}),
        )
        .await;
    assert_error(res, 403, "forbidden").await;
    let page = body(viewer.get("/api/v1/invoices").await, 200).await;
    assert_eq!(page["total"], 2);
    assert_eq!(dates(&page), ["2024-04-02", "2024-04-01"]);
    assert_eq!(page["data"][1], created);
}
