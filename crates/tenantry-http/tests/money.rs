//! Money limits over HTTP on both dialects: every amount and document total is at most
//! `MAX_AMOUNT` (10^15 minor units), and reports add up any data the API accepts exactly, even
//! when a ledger's sum no longer fits in 64 bits.

mod common;

use std::collections::HashMap;

use common::{TestApp, assert_error, unique};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::Deserialize;
use serde_json::{Value, json};
use tenantry_test_utils::Dialect;

const MAX: i64 = 1_000_000_000_000_000;
const LIMIT: &str = "1000000000000000 minor units";

/// One tenant seen through its API, as its seeded admin.
struct Api<'a> {
    app: &'a TestApp,
    tenant: tenantry_registry::Tenant,
    host: String,
    token: String,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let sub = unique("money");
        let tenant = app.create(&sub).await;
        let token = app.login(&sub).await;
        Self {
            app,
            tenant,
            host: format!("{sub}.localhost"),
            token,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app
            .get(&self.host, path)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .post(&self.host, path)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Ledger ids by code.
    async fn ledgers(&self) -> HashMap<String, i64> {
        let page: Value = self
            .get("/api/v1/ledgers?limit=100")
            .await
            .json()
            .await
            .unwrap();
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["code"].as_str().unwrap().into(),
                    l["id"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    async fn voucher(&self, date: &str, lines: Value) -> reqwest::Response {
        self.post("/api/v1/vouchers", json!({"date": date, "lines": lines}))
            .await
    }

    async fn invoice(&self, lines: Value) -> reqwest::Response {
        let body = json!({"customer_name": "Big Co", "date": "2024-01-01", "lines": lines});
        self.post("/api/v1/invoices", body).await
    }

    async fn count(&self, path: &str) -> i64 {
        let page: Value = self.get(path).await.json().await.unwrap();
        page["total"].as_i64().unwrap()
    }
}

/// The 422's message for `field`, after checking that exactly `fields` were named.
async fn refused(res: reqwest::Response, fields: &[&str], field: &str) -> String {
    let body = assert_error(res, 422, "validation_failed").await;
    let errors = body["error"]["fields"].as_array().unwrap();
    let named: Vec<&str> = errors
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(named, fields, "{body}");
    let message = errors.iter().find(|f| f["field"] == field).unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains(LIMIT), "{field}: {message}");
    message.to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn amounts_and_totals_are_bounded() {
    for dialect in Dialect::ALL {
        let app = TestApp::spawn(dialect).await;
        let api = Api::new(&app).await;
        let ids = api.ledgers().await;
        let (cash, bank, capital, sales) = (ids["1100"], ids["1200"], ids["3100"], ids["4100"]);

        let at_limit = api
            .voucher(
                "2024-01-01",
                json!([{"ledger_id": bank, "debit": MAX}, {"ledger_id": capital, "credit": MAX}]),
            )
            .await;
        assert_eq!(at_limit.status(), 201, "{dialect:?}");
        assert_eq!(at_limit.json::<Value>().await.unwrap()["total"], MAX);

        let over = api
            .voucher(
                "2024-01-01",
                json!([
                    {"ledger_id": capital, "credit": MAX + 1},
                    {"ledger_id": bank, "debit": MAX + 1},
                ]),
            )
            .await;
        refused(
            over,
            &["lines[0].credit", "lines[1].debit"],
            "lines[1].debit",
        )
        .await;
        // The amount first reported (issue 16): far beyond the limit, still a 422.
        let huge = api
            .voucher(
                "2024-01-01",
                json!([
                    {"ledger_id": bank, "debit": 9_000_000_000_000_000_000i64},
                    {"ledger_id": capital, "credit": 9_000_000_000_000_000_000i64},
                ]),
            )
            .await;
        refused(
            huge,
            &["lines[0].debit", "lines[1].credit"],
            "lines[0].debit",
        )
        .await;
        // Every line within the limit, the total one minor unit over it.
        let total_over = api
            .voucher(
                "2024-01-01",
                json!([
                    {"ledger_id": bank, "debit": MAX},
                    {"ledger_id": cash, "debit": 1},
                    {"ledger_id": capital, "credit": MAX},
                    {"ledger_id": sales, "credit": 1},
                ]),
            )
            .await;
        let message = refused(total_over, &["lines"], "lines").await;
        assert!(message.contains("10000000000000.01"), "{message}");
        assert_eq!(api.count("/api/v1/vouchers").await, 1, "{dialect:?}");

        let at_limit = api
            .invoice(json!([{"description": "all of it", "quantity": 1, "unit_price": MAX}]))
            .await;
        assert_eq!(at_limit.status(), 201, "{dialect:?}");
        assert_eq!(at_limit.json::<Value>().await.unwrap()["total"], MAX);

        let price_over = api
            .invoice(json!([{"description": "x", "quantity": 1, "unit_price": MAX + 1}]))
            .await;
        refused(price_over, &["lines[0].unit_price"], "lines[0].unit_price").await;
        let product_over = api
            .invoice(json!([
                {"description": "fine", "quantity": 1, "unit_price": 1},
                {"description": "x", "quantity": 2, "unit_price": MAX / 2 + 1},
            ]))
            .await;
        let message = refused(product_over, &["lines[1]"], "lines[1]").await;
        assert!(message.contains("quantity × unit_price"), "{message}");
        // Largest quantity times largest price: far beyond i64, refused without overflowing.
        let widest = api
            .invoice(json!([{"description": "x", "quantity": 1_000_000_000, "unit_price": MAX}]))
            .await;
        refused(widest, &["lines[0]"], "lines[0]").await;
        let quantity_over = api
            .invoice(json!([{"description": "x", "quantity": 1_000_000_001, "unit_price": 0}]))
            .await;
        let body = assert_error(quantity_over, 422, "validation_failed").await;
        assert_eq!(body["error"]["fields"][0]["field"], "lines[0].quantity");
        let total_over = api
            .invoice(json!([
                {"description": "a", "quantity": 1, "unit_price": MAX / 2},
                {"description": "b", "quantity": 1, "unit_price": MAX / 2 + 1},
            ]))
            .await;
        refused(total_over, &["lines"], "lines").await;
        assert_eq!(api.count("/api/v1/invoices").await, 1, "{dialect:?}");
    }
}

#[derive(Debug, Deserialize)]
struct TrialBalance {
    ledgers: Vec<LedgerRow>,
    totals: Sums,
}

/// `i128`, so serde_json reads integers beyond 64 bits exactly.
#[derive(Debug, Deserialize)]
struct LedgerRow {
    id: i64,
    debit: i128,
    credit: i128,
    balance: i128,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Sums {
    debit: i128,
    credit: i128,
}

/// Vouchers posted directly in the tenant database (20,000 through the API would take
/// minutes), each `MAX` from `debit` to `credit`, exactly as the API would store them.
async fn insert_vouchers(api: &Api<'_>, count: u32, date: &str, debit: i64, credit: i64) {
    let db = api
        .app
        .provisioner
        .connect_tenant(&api.tenant)
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let (p1, p2) = match backend {
        DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let vouchers = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO vouchers (number, date, narration, posted_at) \
         SELECT 'BULK-' || i, {p1}, 'bulk', {p2} FROM n"
    );
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        vouchers,
        [date.into(), chrono::Utc::now().into()],
    ))
    .await
    .unwrap();
    for (ledger, d, c) in [(debit, MAX, 0), (credit, 0, MAX)] {
        let lines = format!(
            "INSERT INTO voucher_lines (voucher_id, ledger_id, debit, credit) \
             SELECT id, {ledger}, {d}, {c} FROM vouchers WHERE number LIKE 'BULK-%'"
        );
        db.execute_raw(Statement::from_string(backend, lines))
            .await
            .unwrap();
    }
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn trial_balance_is_exact_beyond_64_bits() {
    // (20,000 + 1) × 10^15 = 2.0001 × 10^19: over i64::MAX and over u64::MAX too.
    const BULK: u32 = 20_000;
    for dialect in Dialect::ALL {
        let app = TestApp::spawn(dialect).await;
        let api = Api::new(&app).await;
        let ids = api.ledgers().await;
        let (bank, capital) = (ids["1200"], ids["3100"]);
        let posted = api
            .voucher(
                "2024-01-01",
                json!([{"ledger_id": bank, "debit": MAX}, {"ledger_id": capital, "credit": MAX}]),
            )
            .await;
        assert_eq!(posted.status(), 201, "{dialect:?}");
        insert_vouchers(&api, BULK, "2024-06-01", bank, capital).await;

        let expected = i128::from(MAX) * i128::from(BULK + 1);
        assert!(expected > i128::from(u64::MAX));
        let res = api.get("/api/v1/reports/trial-balance").await;
        let text = res.text().await.unwrap();
        let report: TrialBalance =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{dialect:?}: {e}: {text}"));
        let row = |id: i64| report.ledgers.iter().find(|r| r.id == id).unwrap();
        assert_eq!(
            (row(bank).debit, row(bank).credit, row(bank).balance),
            (expected, 0, expected),
            "{dialect:?}"
        );
        assert_eq!(
            (
                row(capital).debit,
                row(capital).credit,
                row(capital).balance
            ),
            (0, expected, -expected),
            "{dialect:?}"
        );
        assert_eq!(
            report.totals,
            Sums {
                debit: expected,
                credit: expected
            }
        );
        // Written as plain JSON integers, not strings or floats.
        assert!(text.contains(&format!("\"debit\":{expected}")), "{text}");

        // The dated query sums the same way: only the voucher posted over HTTP.
        let january = api
            .get("/api/v1/reports/trial-balance?as_of=2024-01-31")
            .await;
        let january: TrialBalance = serde_json::from_str(&january.text().await.unwrap()).unwrap();
        let max = i128::from(MAX);
        assert_eq!(
            january.totals,
            Sums {
                debit: max,
                credit: max
            }
        );
    }
}
