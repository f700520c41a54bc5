//! The admin benchmark's fleet: tenants with mixed statuses and plans and searchable names,
//! bulk-inserted into the master in one statement (registry rows only, no databases), and what
//! each list query must answer, computed from the rows as inserted.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::{Executor as _, PgConnection};
use uuid::Uuid;

const WORDS: [&str; 7] = ["amber", "birch", "cedar", "dune", "ember", "fjord", "grove"];
pub const PLANS: [&str; 3] = ["free", "standard", "premium"];

pub struct Seeded {
    pub id: Uuid,
    pub subdomain: String,
    pub name: String,
    pub status: &'static str,
    pub plan: &'static str,
    pub created_at: DateTime<Utc>,
}

impl Seeded {
    pub fn is_live(&self) -> bool {
        self.status != "deleted"
    }
}

/// One in ten suspended, one in twenty each deleted, failed and provisioning, the rest active.
fn status_of(i: usize) -> &'static str {
    match i % 20 {
        0 | 7 => "suspended",
        3 => "deleted",
        11 => "failed",
        15 => "provisioning",
        _ => "active",
    }
}

/// `n` tenants. Creation times are a permutation of the ids' order, two tenants to a
/// millisecond, so ties are decided by the id and the listing order is not the insertion order.
pub fn generate(n: usize) -> Vec<Seeded> {
    let base = DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time");
    (0..n)
        .map(|i| {
            let word = WORDS[i % WORDS.len()];
            let other = WORDS[(i / WORDS.len()) % WORDS.len()];
            let slot = (i * 7919) % n;
            Seeded {
                id: Uuid::now_v7(),
                subdomain: format!("{word}-{i:05}"),
                name: format!("{}{} Trading {i}", other[..1].to_uppercase(), &other[1..]),
                status: status_of(i),
                plan: PLANS[(i / 5) % 3],
                created_at: base + Duration::milliseconds((slot / 2) as i64),
            }
        })
        .collect()
}

pub async fn insert(conn: &mut PgConnection, rows: &[Seeded]) -> anyhow::Result<()> {
    sea_orm::sqlx::query(
        "INSERT INTO tenants (id, subdomain, name, status, plan_id, db_name, created_at, \
         updated_at, deleted_at) \
         SELECT id, subdomain, name, status, plan_id, 't_' || replace(subdomain, '-', '_'), \
                created_at, created_at, CASE WHEN status = 'deleted' THEN created_at END \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::timestamptz[]) AS t(id, subdomain, name, status, plan_id, created_at)",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.subdomain.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.plan).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    conn.execute("ANALYZE tenants").await?;
    Ok(())
}

/// A list query's filters, as the admin API takes them.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub search: Option<&'static str>,
    pub status: Option<&'static str>,
    pub plan: Option<&'static str>,
}

impl Filter {
    pub fn matches(&self, r: &Seeded) -> bool {
        self.status.map_or(r.is_live(), |s| r.status == s)
            && self.plan.is_none_or(|p| r.plan == p)
            && self.search.is_none_or(|s| {
                let s = s.to_lowercase();
                r.subdomain.to_lowercase().contains(&s) || r.name.to_lowercase().contains(&s)
            })
    }

    /// `&search=…&status=…&plan=…` (values are plain words: nothing to escape).
    pub fn query_string(&self) -> String {
        [
            ("search", self.search),
            ("status", self.status),
            ("plan", self.plan),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("&{k}={v}")))
        .collect()
    }

    /// The ids listed, in order (creation time, then id), unpaged.
    pub fn expected(&self, rows: &[Seeded]) -> Vec<Uuid> {
        let mut hits: Vec<&Seeded> = rows.iter().filter(|r| self.matches(r)).collect();
        hits.sort_by_key(|r| (r.created_at, r.id));
        hits.into_iter().map(|r| r.id).collect()
    }
}

/// What `cargo test` checks of the fleet (panics on a mismatch).
pub fn self_check() {
    let rows = generate(10_000);
    let count = |f: Filter| f.expected(&rows).len();
    assert_eq!(count(Filter::default()), 9_500);
    let suspended = Filter {
        status: Some("suspended"),
        ..Filter::default()
    };
    assert_eq!(count(suspended), 1_000);
    let search = Filter {
        search: Some("CEDAR"),
        ..Filter::default()
    };
    assert!((2_000..3_000).contains(&count(search.clone())));
    assert_eq!(search.query_string(), "&search=CEDAR");
    let live = Filter::default().expected(&rows);
    let mut sorted = live.clone();
    sorted.sort();
    assert_ne!(live, sorted, "the listing order is not the ids' order");
}
