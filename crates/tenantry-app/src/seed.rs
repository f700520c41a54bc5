//! Seeding a freshly migrated tenant database: the default chart of accounts and the admin.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait, TryInsertResult,
};

use crate::entity::{ledger, user};
use crate::{DEFAULT_CHART, LedgerType, SeedError, UserRole};

/// The tenant's first user, created at provisioning with the `admin` role.
#[derive(Clone, Copy)]
pub struct TenantAdmin<'a> {
    /// Stored lowercased.
    pub email: &'a str,
    pub name: &'a str,
    /// An argon2id PHC string (`$argon2id$...`), hashed by the caller.
    pub password_hash: &'a str,
}

// Hand-written so the password hash never reaches a log line.
impl std::fmt::Debug for TenantAdmin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAdmin")
            .field("email", &self.email)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What one [`seed`] call created; all zero / `false` when the database was already seeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedReport {
    pub ledgers_created: usize,
    pub admin_created: bool,
}

type ChartEntry = (&'static str, &'static str, LedgerType, Option<&'static str>);

/// Seeds a freshly migrated tenant database: [`DEFAULT_CHART`] and the tenant admin, in one
/// transaction.
///
/// Idempotent: ledgers whose code exists and an admin whose email exists are left as they are,
/// so running it again (e.g. after a crash between seeding and activation) changes nothing and
/// succeeds.
pub async fn seed(
    conn: &DatabaseConnection,
    admin: &TenantAdmin<'_>,
) -> Result<SeedReport, SeedError> {
    let email = checked_email(admin)?;
    let txn = begin(conn).await?;
    // On an early return the transaction is dropped, which rolls it back.
    let ledgers_created = insert_chart(&txn, DEFAULT_CHART).await?;
    let admin_created = insert_admin(&txn, &email, admin).await?;
    txn.commit().await.map_err(db("committing the seed"))?;
    tracing::info!(ledgers_created, admin_created, "seeded tenant database");
    Ok(SeedReport {
        ledgers_created,
        admin_created,
    })
}

/// The part of [`seed`] every tenant shares: [`DEFAULT_CHART`], in one transaction, so it can be
/// written ahead of demand (a warm spare) and [`seed_admin`] done at the claim. Idempotent like
/// [`seed`]; returns how many ledgers were new. What it writes is named by [`chart_fingerprint`].
pub async fn seed_chart(conn: &DatabaseConnection) -> Result<usize, SeedError> {
    let txn = begin(conn).await?;
    let created = insert_chart(&txn, DEFAULT_CHART).await?;
    txn.commit().await.map_err(db("committing the chart"))?;
    Ok(created)
}

/// The rest of [`seed`] on a database [`seed_chart`] already wrote: the tenant admin, one
/// statement. Idempotent; returns whether the admin was new.
pub async fn seed_admin(
    conn: &DatabaseConnection,
    admin: &TenantAdmin<'_>,
) -> Result<bool, SeedError> {
    let email = checked_email(admin)?;
    insert_admin(conn, &email, admin).await
}

/// Names the data [`seed_chart`] writes (FNV-1a over [`DEFAULT_CHART`]): a database seeded by a
/// build whose chart differs has another fingerprint, so a warm spare is only claimed by a build
/// that would have written the same.
#[must_use]
pub fn chart_fingerprint() -> String {
    fingerprint(DEFAULT_CHART)
}

fn fingerprint(chart: &[ChartEntry]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &(code, name, ledger_type, parent) in chart {
        let fields = [code, name, ledger_type.as_str(), parent.unwrap_or("")];
        for byte in fields.iter().flat_map(|f| f.bytes().chain([0x1f])) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("chart-{hash:016x}")
}

async fn begin(conn: &DatabaseConnection) -> Result<DatabaseTransaction, SeedError> {
    conn.begin()
        .await
        .map_err(db("starting the seed transaction"))
}

/// The lowercased email, after checking what the schema's CHECKs would refuse less clearly.
fn checked_email(admin: &TenantAdmin<'_>) -> Result<String, SeedError> {
    let email = admin.email.to_lowercase();
    let well_formed = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if !well_formed || email.chars().any(char::is_whitespace) {
        return Err(SeedError::InvalidAdmin(
            "email must be local@domain without spaces",
        ));
    }
    if admin.name.trim().is_empty() {
        return Err(SeedError::InvalidAdmin("name is empty"));
    }
    if !admin.password_hash.starts_with("$argon2id$") {
        return Err(SeedError::InvalidAdmin(
            "password hash is not an argon2id PHC string",
        ));
    }
    Ok(email)
}

/// Inserts the chart level by level (roots, then their children, ...) so that each level's
/// parent ids can be read back by code first. Returns how many ledgers were new.
async fn insert_chart(txn: &DatabaseTransaction, chart: &[ChartEntry]) -> Result<usize, SeedError> {
    let mut ids: HashMap<&str, i64> = HashMap::with_capacity(chart.len());
    let mut remaining: Vec<&ChartEntry> = chart.iter().collect();
    let mut created = 0;
    while !remaining.is_empty() {
        let (level, later): (Vec<&ChartEntry>, Vec<&ChartEntry>) = remaining
            .into_iter()
            .partition(|(_, _, _, parent)| parent.is_none_or(|p| ids.contains_key(p)));
        if level.is_empty() {
            let &(code, _, _, parent) = later[0];
            let parent = parent.unwrap_or_default();
            return Err(SeedError::UnknownParent { code, parent });
        }
        let rows = level
            .iter()
            .map(|&&(code, name, ledger_type, parent)| ledger::ActiveModel {
                code: Set(code.to_owned()),
                name: Set(name.to_owned()),
                ledger_type: Set(ledger_type),
                parent_id: Set(parent.map(|p| ids[p])),
                ..Default::default()
            });
        let inserted = ledger::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([ledger::Column::Code])
            .exec_without_returning(txn)
            .await
            .map_err(db("inserting the chart of accounts"))?;
        created += inserted_rows(inserted);

        let codes = level.iter().map(|(code, ..)| *code);
        let found: Vec<(String, i64)> = ledger::Entity::find()
            .select_only()
            .columns([ledger::Column::Code, ledger::Column::Id])
            .filter(ledger::Column::Code.is_in(codes))
            .into_tuple()
            .all(txn)
            .await
            .map_err(db("reading back ledger ids"))?;
        for (code, id) in found {
            if let Some((code, ..)) = level.iter().find(|(c, ..)| *c == code) {
                ids.insert(code, id);
            }
        }
        remaining = later;
    }
    Ok(created)
}

async fn insert_admin(
    conn: &impl ConnectionTrait,
    email: &str,
    admin: &TenantAdmin<'_>,
) -> Result<bool, SeedError> {
    let row = user::ActiveModel {
        email: Set(email.to_owned()),
        name: Set(admin.name.to_owned()),
        password_hash: Set(admin.password_hash.to_owned()),
        role: Set(UserRole::Admin),
        ..Default::default()
    };
    let inserted = user::Entity::insert(row)
        .on_conflict_do_nothing_on([user::Column::Email])
        .exec_without_returning(conn)
        .await
        .map_err(db("inserting the tenant admin"))?;
    Ok(inserted_rows(inserted) == 1)
}

fn inserted_rows(result: TryInsertResult<u64>) -> usize {
    match result {
        // A row count always fits: at most the chart's length.
        TryInsertResult::Inserted(n) => usize::try_from(n).unwrap_or(usize::MAX),
        TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
    }
}

fn db(context: &'static str) -> impl FnOnce(DbErr) -> SeedError {
    move |source| SeedError::Db { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

    fn admin(email: &str, name: &str, password_hash: &'static str) -> SeedError {
        let admin = TenantAdmin {
            email,
            name,
            password_hash,
        };
        checked_email(&admin).unwrap_err()
    }

    #[test]
    fn the_chart_fingerprint_changes_with_any_field_of_the_chart() {
        let base = fingerprint(DEFAULT_CHART);
        assert_eq!(base, chart_fingerprint(), "stable");
        assert!(base.starts_with("chart-") && base.len() == 22, "{base}");
        let mut renamed = DEFAULT_CHART.to_vec();
        renamed[0].1 = "Another name";
        let mut reparented = DEFAULT_CHART.to_vec();
        let child = reparented.iter().position(|e| e.3.is_some()).unwrap();
        reparented[child].3 = None;
        for changed in [renamed, reparented, DEFAULT_CHART[1..].to_vec()] {
            assert_ne!(fingerprint(&changed), base);
        }
    }

    #[test]
    fn email_is_lowercased() {
        let admin = TenantAdmin {
            email: "Ada@Example.COM",
            name: "Ada",
            password_hash: HASH,
        };
        assert_eq!(checked_email(&admin).unwrap(), "ada@example.com");
    }

    #[test]
    fn unusable_admins_are_refused_with_the_field() {
        for (err, field) in [
            (admin("ada", "Ada", HASH), "email"),
            (admin("@example.com", "Ada", HASH), "email"),
            (admin("ada@", "Ada", HASH), "email"),
            (admin("a da@example.com", "Ada", HASH), "email"),
            (admin("ada@example.com", "  ", HASH), "name"),
            (
                admin("ada@example.com", "Ada", "plaintext"),
                "password hash",
            ),
            (
                admin("ada@example.com", "Ada", "$argon2i$v=19$x"),
                "password hash",
            ),
        ] {
            assert!(matches!(err, SeedError::InvalidAdmin(_)), "{err:?}");
            assert!(
                err.to_string().contains(field),
                "{err} does not name {field}"
            );
        }
    }

    #[test]
    fn debug_hides_the_password_hash() {
        let admin = TenantAdmin {
            email: "ada@example.com",
            name: "Ada",
            password_hash: HASH,
        };
        assert!(!format!("{admin:?}").contains("argon2id"));
    }
}
