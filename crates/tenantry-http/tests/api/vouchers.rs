//! Vouchers (posted balanced, or nothing is written) and the trial balance they add up to.

use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

use super::support::{Api, Counts, body, dates, invalid_fields, message_of};
use crate::common::{TestApp, assert_error};

pub(crate) async fn vouchers_post_balanced_or_write_nothing(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "vch").await;
    let ids = api.ledgers().await;
    let (cash, bank, capital, sales) = (ids["1100"], ids["1200"], ids["3100"], ids["4100"]);
    let nothing = Counts {
        vouchers: 0,
        voucher_lines: 0,
        invoices: 0,
        invoice_lines: 0,
    };
    assert_eq!(api.counts().await, nothing);

    let created = body(
        api.post(
            "/api/v1/vouchers",
            json!({"date": "2024-03-01", "narration": "Owner invests", "lines": [
                {"ledger_id": bank, "debit": 100_000},
                {"ledger_id": capital, "credit": 100_000, "debit": 0},
            ]}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["date"], "2024-03-01");
    assert_eq!(created["narration"], "Owner invests");
    assert_eq!(created["total"], 100_000);
    assert_eq!(created["number"], format!("JV-{id:06}"));
    assert!(created["posted_at"].is_string());
    assert_eq!(
        created["lines"],
        json!([
            {"ledger_id": bank, "debit": 100_000, "credit": 0},
            {"ledger_id": capital, "debit": 0, "credit": 100_000},
        ])
    );
    let read = body(api.get(&format!("/api/v1/vouchers/{id}")).await, 200).await;
    assert_eq!(read, created);
    assert_error(api.get("/api/v1/vouchers/999999").await, 404, "not_found").await;
    let posted = api.counts().await;
    assert_eq!((posted.vouchers, posted.voucher_lines), (1, 2));

    // Refused: every problem is named, and nothing is written.
    let post = |date: &str, lines: Value| {
        api.post(
            "/api/v1/vouchers",
            json!({"date": date, "narration": "bad", "lines": lines}),
        )
    };
    let (fields, unbalanced) = invalid_fields(
        post(
            "2024-03-02",
            json!([{"ledger_id": bank, "debit": 10_000}, {"ledger_id": capital, "credit": 9_000}]),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines"]);
    assert!(
        message_of(&unbalanced, "lines").contains("debits 100.00 ≠ credits 90.00"),
        "{unbalanced}"
    );
    let (fields, _) = invalid_fields(
        post(
            "2024-03-02",
            json!([{"ledger_id": cash, "debit": 500}, {"ledger_id": 999_999, "credit": 500}]),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["lines[1].ledger_id"]);
    let (fields, _) = invalid_fields(
        post(
            "2024-02-30",
            json!([
                {"ledger_id": cash, "debit": 12.5},
                {"ledger_id": cash, "debit": 100, "credit": 100},
                {"ledger_id": "cash", "credit": -5},
                {"ledger_id": sales, "debit": "100"},
                {"ledger_id": sales},
            ]),
        )
        .await,
    )
    .await;
    assert_eq!(
        fields,
        [
            "date",
            "lines[0].debit",
            "lines[1]",
            "lines[2].ledger_id",
            "lines[2].credit",
            "lines[3].debit",
            "lines[4]",
        ]
    );
    for lines in [json!([]), json!([{"ledger_id": cash, "debit": 1}])] {
        let (fields, _) = invalid_fields(post("2024-03-02", lines).await).await;
        assert_eq!(fields, ["lines"]);
    }
    let (fields, _) = invalid_fields(
        api.post(
            "/api/v1/vouchers",
            json!({"lines": [{"ledger_id": cash, "amount": 1}, {"ledger_id": bank, "credit": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(fields, ["body"], "an unknown field is refused, not ignored");
    assert_eq!(api.counts().await, posted);

    // A failure inside the transaction (after the voucher row is written) leaves nothing.
    api.fail_voucher_lines_debiting_4242().await;
    let res = post(
        "2024-03-03",
        json!([{"ledger_id": cash, "debit": 4242}, {"ledger_id": sales, "credit": 4242}]),
    )
    .await;
    let failed = assert_error(res, 500, "internal_error").await;
    assert!(
        !failed.to_string().contains("injected"),
        "cause leaked: {failed}"
    );
    assert_eq!(api.counts().await, posted);

    // Viewers read but do not post.
    let (_, viewer) = api.new_user("viewer@vch.example", "viewer").await;
    let lines = json!([{"ledger_id": cash, "debit": 1}, {"ledger_id": sales, "credit": 1}]);
    let res = viewer
        .post(
            "/api/v1/vouchers",
            json!({"date": "2024-03-04", "lines": lines.clone()}),
        )
        .await;
    assert_error(res, 403, "forbidden").await;
    let (_, accountant) = api.new_user("acc@vch.example", "accountant").await;
    let by_accountant = accountant.voucher("2024-01-15", lines.clone()).await;
    assert_eq!(by_accountant["narration"], "test");
    api.voucher("2024-05-01", lines).await;

    let page = body(viewer.get("/api/v1/vouchers").await, 200).await;
    assert_eq!(page["total"], 3);
    assert_eq!(dates(&page), ["2024-05-01", "2024-03-01", "2024-01-15"]);
    assert_eq!(page["data"][1], created, "lines come with each voucher");
    let after = api.counts().await;
    assert_eq!((after.vouchers, after.voucher_lines), (3, 6));
}

pub(crate) async fn trial_balance_reflects_posted_vouchers(dialect: Dialect) {
    let app = TestApp::spawn(dialect).await;
    let api = Api::new(&app, "tb").await;
    let ids = api.ledgers().await;
    let (cash, bank, capital, sales, rent) = (
        ids["1100"],
        ids["1200"],
        ids["3100"],
        ids["4100"],
        ids["5200"],
    );

    let empty = body(api.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(empty["totals"], json!({"debit": 0, "credit": 0}));
    assert_eq!(
        empty["ledgers"].as_array().unwrap().len(),
        tenantry_app::DEFAULT_CHART.len()
    );

    api.voucher(
        "2024-01-10",
        json!([{"ledger_id": bank, "debit": 500_000}, {"ledger_id": capital, "credit": 500_000}]),
    )
    .await;
    api.voucher(
        "2024-02-01",
        json!([{"ledger_id": rent, "debit": 120_000}, {"ledger_id": bank, "credit": 120_000}]),
    )
    .await;
    api.voucher(
        "2024-02-15",
        json!([
            {"ledger_id": cash, "debit": 30_000},
            {"ledger_id": bank, "debit": 20_000},
            {"ledger_id": sales, "credit": 50_000},
        ]),
    )
    .await;

    let report = body(api.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(
        report["totals"],
        json!({"debit": 670_000, "credit": 670_000})
    );
    let rows = report["ledgers"].as_array().unwrap();
    let codes: Vec<&str> = rows.iter().map(|r| r["code"].as_str().unwrap()).collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(codes, sorted, "in code order");
    let by_id = |id: i64| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(
        by_id(bank),
        json!({"id": bank, "code": "1200", "name": "Bank", "type": "asset",
               "parent_id": ids["1000"], "debit": 520_000, "credit": 120_000,
               "balance": 400_000})
    );
    let balance = |id: i64| by_id(id)["balance"].as_i64().unwrap();
    assert_eq!(
        [
            balance(cash),
            balance(capital),
            balance(sales),
            balance(rent)
        ],
        [30_000, -500_000, -50_000, 120_000]
    );
    assert_eq!(
        balance(ids["1000"]),
        0,
        "a parent shows its own postings only"
    );
    let net: i64 = rows.iter().map(|r| r["balance"].as_i64().unwrap()).sum();
    assert_eq!(net, 0);

    let january = body(
        api.get("/api/v1/reports/trial-balance?as_of=2024-01-31")
            .await,
        200,
    )
    .await;
    assert_eq!(january["as_of"], "2024-01-31");
    assert_eq!(
        january["totals"],
        json!({"debit": 500_000, "credit": 500_000})
    );
    let (fields, _) = invalid_fields(
        api.get("/api/v1/reports/trial-balance?as_of=31/01/2024")
            .await,
    )
    .await;
    assert_eq!(fields, ["as_of"]);

    let (_, viewer) = api.new_user("viewer@tb.example", "viewer").await;
    let seen = body(viewer.get("/api/v1/reports/trial-balance").await, 200).await;
    assert_eq!(seen, report);
}
