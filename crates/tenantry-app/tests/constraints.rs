//! The schema's constraints refuse bad rows on both dialects, naming the constraint.

#[macro_use]
mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::{count, seeded};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, Set,
};
use tenantry_app::entity::{invoice, invoice_line, ledger, user, voucher, voucher_line};
use tenantry_test_utils::Dialect;

/// Runs `sql`, expects it to fail, and checks the error mentions one of `expected`.
async fn assert_refused(conn: &DatabaseConnection, sql: &str, expected: &[&str]) {
    let err = match conn.execute_unprepared(sql).await {
        Ok(_) => panic!("accepted: {sql}"),
        Err(err) => err.to_string(),
    };
    assert!(
        expected.iter().any(|e| err.contains(e)),
        "{sql}\nfailed with {err}\nwhich mentions none of {expected:?}"
    );
}

async fn ledger_id(conn: &DatabaseConnection, code: &str) -> i64 {
    ledger::Entity::find()
        .filter(ledger::Column::Code.eq(code))
        .one(conn)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A voucher (id returned) with no lines, dated 2024-01-31.
async fn voucher(conn: &DatabaseConnection, number: &str) -> i64 {
    voucher::ActiveModel {
        number: Set(number.to_owned()),
        date: Set(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()),
        narration: Set("test".to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap()
    .id
}

async fn voucher_lines_take_exactly_one_positive_side(dialect: Dialect) {
    let (_db, conn) = seeded(dialect).await;
    let v = voucher(&conn, "JV-1").await;
    let cash = ledger_id(&conn, "1100").await;
    let line = |debit: &str, credit: &str| {
        format!(
            "INSERT INTO voucher_lines (voucher_id, ledger_id, debit, credit) \
             VALUES ({v}, {cash}, {debit}, {credit})"
        )
    };
    for (debit, credit) in [("100", "100"), ("0", "0")] {
        assert_refused(&conn, &line(debit, credit), &["voucher_lines_one_side"]).await;
    }
    for (debit, credit) in [("-100", "0"), ("0", "-100"), ("-5", "10")] {
        assert_refused(&conn, &line(debit, credit), &["voucher_lines_not_negative"]).await;
    }
    conn.execute_unprepared(&line("100", "0")).await.unwrap();
    conn.execute_unprepared(&line("0", "100")).await.unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM voucher_lines").await, 2);
}

async fn ledgers_are_checked(dialect: Dialect) {
    let (_db, conn) = seeded(dialect).await;
    assert_refused(
        &conn,
        "INSERT INTO ledgers (code, name, type) VALUES ('9000', 'Odd', 'foo')",
        &["ledgers_type_valid"],
    )
    .await;
    assert_refused(
        &conn,
        "INSERT INTO ledgers (code, name, type) VALUES ('1100', 'Cash again', 'asset')",
        &["ledgers_code_unique", "ledgers.code"],
    )
    .await;
    assert_refused(
        &conn,
        "INSERT INTO ledgers (code, name, type, parent_id) VALUES ('9000', 'Orphan', 'asset', 999999)",
        &["foreign key", "FOREIGN KEY"],
    )
    .await;
    assert_refused(
        &conn,
        "UPDATE ledgers SET parent_id = id WHERE code = '1100'",
        &["ledgers_not_own_parent"],
    )
    .await;
}

async fn users_are_checked(dialect: Dialect) {
    let (_db, conn) = seeded(dialect).await;
    let user = |email: &str, hash: &str, role: &str| {
        format!(
            "INSERT INTO users (email, name, password_hash, role) \
             VALUES ('{email}', 'Bob', '{hash}', '{role}')"
        )
    };
    let hash = common::HASH;
    assert_refused(
        &conn,
        &user("bob@example.com", hash, "root"),
        &["users_role_valid"],
    )
    .await;
    assert_refused(
        &conn,
        &user("Bob@example.com", hash, "viewer"),
        &["users_email_lowercase"],
    )
    .await;
    assert_refused(
        &conn,
        &user("bob", hash, "viewer"),
        &["users_email_lowercase"],
    )
    .await;
    for bad_hash in ["hunter2", "$ARGON2ID$v=19$x", "$argon2i$v=19$x"] {
        assert_refused(
            &conn,
            &user("bob@example.com", bad_hash, "viewer"),
            &["users_password_argon2id"],
        )
        .await;
    }
    assert_refused(
        &conn,
        &user("ada@example.com", hash, "viewer"),
        &["users_email_unique", "users.email"],
    )
    .await;
    conn.execute_unprepared(&user("bob@example.com", hash, "accountant"))
        .await
        .unwrap();
}

async fn invoices_are_checked(dialect: Dialect) {
    let (_db, conn) = seeded(dialect).await;
    let invoice = |number: &str, date: &str, due: &str, total: &str| {
        format!(
            "INSERT INTO invoices (number, customer_name, date, due_date, total) \
             VALUES ('{number}', 'Acme', '{date}', '{due}', {total})"
        )
    };
    assert_refused(
        &conn,
        &invoice("INV-1", "2024-02-01", "2024-01-31", "100"),
        &["invoices_due_after_date"],
    )
    .await;
    assert_refused(
        &conn,
        &invoice("INV-1", "2024-02-01", "2024-02-01", "-1"),
        &["invoices_total_not_negative"],
    )
    .await;
    // Not a calendar day: PostgreSQL's DATE and SQLite's check both refuse it.
    assert_refused(
        &conn,
        &invoice("INV-1", "2024-02-30", "2024-03-31", "100"),
        &["invoices_date_valid", "out of range"],
    )
    .await;
    conn.execute_unprepared(&invoice("INV-1", "2024-02-01", "2024-02-01", "0"))
        .await
        .unwrap();
    let line = |quantity: &str, price: &str| {
        format!(
            "INSERT INTO invoice_lines (invoice_id, description, quantity, unit_price) \
             SELECT id, 'Widget', {quantity}, {price} FROM invoices WHERE number = 'INV-1'"
        )
    };
    assert_refused(
        &conn,
        &line("0", "100"),
        &["invoice_lines_quantity_positive"],
    )
    .await;
    assert_refused(
        &conn,
        &line("-1", "100"),
        &["invoice_lines_quantity_positive"],
    )
    .await;
    assert_refused(
        &conn,
        &line("1", "-100"),
        &["invoice_lines_unit_price_not_negative"],
    )
    .await;
    conn.execute_unprepared(&line("1", "0")).await.unwrap();
}

/// Deleting a voucher or an invoice deletes its lines; a ledger with postings and a user who
/// wrote vouchers stay. Also round-trips the entities (dates, timestamps) on each dialect.
async fn deletes_cascade_to_lines_only(dialect: Dialect) {
    let (_db, conn) = seeded(dialect).await;
    let admin = user::Entity::find().one(&conn).await.unwrap().unwrap();
    let posted_at = Utc.with_ymd_and_hms(2024, 1, 31, 12, 30, 0).unwrap();
    let v = voucher::ActiveModel {
        number: Set("JV-1".to_owned()),
        date: Set(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap()),
        narration: Set("Owner's capital".to_owned()),
        posted_at: Set(Some(posted_at)),
        created_by: Set(Some(admin.id)),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .unwrap();
    let bank = ledger_id(&conn, "1200").await;
    let capital = ledger_id(&conn, "3100").await;
    for (ledger_id, debit, credit) in [(bank, 500_000, 0), (capital, 0, 500_000)] {
        voucher_line::ActiveModel {
            voucher_id: Set(v.id),
            ledger_id: Set(ledger_id),
            debit: Set(debit),
            credit: Set(credit),
            ..Default::default()
        }
        .insert(&conn)
        .await
        .unwrap();
    }
    let read = voucher::Entity::find_by_id(v.id)
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, v);
    assert_eq!(read.posted_at, Some(posted_at));
    let lines = v
        .find_related(voucher_line::Entity)
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(lines.iter().map(|l| l.debit).sum::<i64>(), 500_000);
    assert_eq!(lines.iter().map(|l| l.credit).sum::<i64>(), 500_000);

    assert_refused(
        &conn,
        &format!("DELETE FROM ledgers WHERE id = {bank}"),
        &["foreign key", "FOREIGN KEY"],
    )
    .await;
    assert_refused(
        &conn,
        &format!("DELETE FROM users WHERE id = {}", admin.id),
        &["foreign key", "FOREIGN KEY"],
    )
    .await;

    voucher::Entity::delete_by_id(v.id)
        .exec(&conn)
        .await
        .unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM voucher_lines").await, 0);

    let inv = invoice::ActiveModel {
        number: Set("INV-1".to_owned()),
        customer_name: Set("Acme".to_owned()),
        date: Set(NaiveDate::from_ymd_opt(2024, 2, 1).unwrap()),
        due_date: Set(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()),
        total: Set(2_500),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .unwrap();
    invoice_line::ActiveModel {
        invoice_id: Set(inv.id),
        description: Set("Widget".to_owned()),
        quantity: Set(2),
        unit_price: Set(1_250),
        ..Default::default()
    }
    .insert(&conn)
    .await
    .unwrap();
    assert_eq!(
        invoice::Entity::find_by_id(inv.id)
            .one(&conn)
            .await
            .unwrap(),
        Some(inv.clone())
    );
    inv.delete(&conn).await.unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM invoice_lines").await, 0);
}

both_dialects!(
    voucher_lines_take_exactly_one_positive_side,
    ledgers_are_checked,
    users_are_checked,
    invoices_are_checked,
    deletes_cascade_to_lines_only,
);

/// STRICT tables: SQLite stores no fraction (or text) in an amount column, as PostgreSQL's
/// BIGINT would not.
#[tokio::test]
async fn sqlite_amounts_are_integers() {
    let (_db, conn) = seeded(Dialect::Sqlite).await;
    let v = voucher(&conn, "JV-1").await;
    let cash = ledger_id(&conn, "1100").await;
    for amount in ["1.5", "'100'", "'abc'"] {
        let sql = format!(
            "INSERT INTO voucher_lines (voucher_id, ledger_id, debit, credit) \
             VALUES ({v}, {cash}, {amount}, 0)"
        );
        // '100' is losslessly converted to 100 by a STRICT table; the others are refused.
        if amount == "'100'" {
            conn.execute_unprepared(&sql).await.unwrap();
        } else {
            assert_refused(&conn, &sql, &["cannot store"]).await;
        }
    }
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM voucher_lines WHERE typeof(debit) <> 'integer'"
        )
        .await,
        0
    );
}

/// SQLite's dates are TEXT; the schema refuses anything but a real `YYYY-MM-DD`.
#[tokio::test]
async fn sqlite_dates_are_iso_days() {
    let (_db, conn) = seeded(Dialect::Sqlite).await;
    for date in [
        "31/01/2024",
        "2024-1-31",
        "2024-02-30",
        "2024-01-31T00:00:00",
    ] {
        assert_refused(
            &conn,
            &format!("INSERT INTO vouchers (number, date) VALUES ('JV-9', '{date}')"),
            &["vouchers_date_valid"],
        )
        .await;
    }
}
