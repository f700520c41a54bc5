//! The admin benchmark's measurements: what a row measures ([`Probe`]), and one sample of it —
//! a request to the API and the baseline's bare query, in alternating order — checked against
//! the fleet as inserted; a wrong answer is an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use sea_orm::sqlx::PgConnection;
use serde::Deserialize;
use tenantry_registry::{Registry, TenantQuery};
use uuid::Uuid;

use super::LIMIT;
use super::baseline::{self, Key};
use super::fleet::{Filter, Seeded};
use super::report::{Measured, Stats};

/// What one row of the table measures.
#[derive(Debug, Clone)]
pub enum Probe {
    /// A list page by number, over HTTP (or, for scale, `Registry::search_tenants` in process).
    Page {
        filter: Filter,
        page: usize,
        in_process: bool,
    },
    /// The live fleet page by page with `cursor`; one sample per page.
    Walk,
    /// `GET /admin/v1/tenants/{id}` (by subdomain when `false`).
    Show { by_id: bool },
}

pub struct Case {
    pub label: String,
    pub probe: Probe,
    /// Held to the target (a list page through the API).
    pub target: bool,
}

#[derive(Deserialize)]
struct List {
    data: Vec<View>,
    total: usize,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct View {
    id: Uuid,
    subdomain: String,
    status: String,
    plan: String,
}

/// The fleet, the server and the baseline's connection.
pub struct Bench {
    pub rows: Vec<Seeded>,
    /// Row of each id in `rows`.
    pub index: HashMap<Uuid, usize>,
    pub live: Vec<Uuid>,
    pub client: reqwest::Client,
    pub base: String,
    pub host: String,
    pub token: String,
    pub registry: Arc<Registry>,
    pub sql: PgConnection,
}

pub fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

impl Bench {
    async fn get(&self, path: &str) -> Result<(f64, Vec<u8>)> {
        let start = Instant::now();
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("host", &self.host)
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?;
        let took = ms(start);
        ensure!(status == 200, "GET {path}: {status}: {body:?}");
        Ok((took, body.to_vec()))
    }

    /// One sample of `probe` (the `i`th; API and baseline in alternating order), checked
    /// against `want`, every id the probe's filter selects, in order.
    async fn sample(
        &mut self,
        probe: &Probe,
        i: usize,
        want: &[Uuid],
        walk: &mut Walk,
    ) -> Result<(f64, f64)> {
        let api_first = i.is_multiple_of(2);
        let mut base = None;
        match probe {
            Probe::Page {
                filter,
                page,
                in_process,
            } => {
                let offset = (page - 1) * LIMIT;
                if !api_first {
                    base = Some(baseline::page(&mut self.sql, filter, offset, None).await?);
                }
                let (t, ids, total) = if *in_process {
                    let q = registry_query(filter, *page)?;
                    let start = Instant::now();
                    let got = self.registry.search_tenants(&q).await?;
                    let ids: Vec<Uuid> = got.tenants.iter().map(|t| t.id.as_uuid()).collect();
                    (ms(start), ids, got.total as usize)
                } else {
                    let path = format!(
                        "/admin/v1/tenants?page={page}&limit={LIMIT}{}",
                        filter.query_string()
                    );
                    let list = self.list(&path, filter).await?;
                    (
                        list.0,
                        list.1.data.iter().map(|v| v.id).collect(),
                        list.1.total,
                    )
                };
                let page_of = &want[offset.min(want.len())..(offset + LIMIT).min(want.len())];
                ensure!(
                    total == want.len(),
                    "{filter:?}: total {total}, not {}",
                    want.len()
                );
                ensure!(
                    ids == page_of,
                    "{filter:?} page {page}: wrong tenants or order"
                );
                let b = match base {
                    Some(b) => b,
                    None => baseline::page(&mut self.sql, filter, offset, None).await?,
                };
                ensure!(
                    keys_ids(&b.1) == ids,
                    "the baseline read other rows than the API"
                );
                Ok((t, b.0))
            }
            Probe::Walk => {
                if !api_first {
                    base = Some(
                        baseline::page(&mut self.sql, &Filter::default(), 0, walk.after).await?,
                    );
                }
                let path = match &walk.cursor {
                    Some(c) => format!("/admin/v1/tenants?limit={LIMIT}&cursor={c}"),
                    None => format!("/admin/v1/tenants?limit={LIMIT}"),
                };
                let (t, list) = self.list(&path, &Filter::default()).await?;
                let b = match base {
                    Some(b) => b,
                    None => {
                        baseline::page(&mut self.sql, &Filter::default(), 0, walk.after).await?
                    }
                };
                let ids: Vec<Uuid> = list.data.iter().map(|v| v.id).collect();
                let from = walk.seen.len();
                ensure!(list.total == want.len(), "walk: total {}", list.total);
                ensure!(
                    Some(&ids[..]) == want.get(from..from + ids.len()),
                    "walk: wrong page at {from}"
                );
                ensure!(
                    keys_ids(&b.1) == ids,
                    "the baseline walked other rows than the API"
                );
                walk.seen.extend(&ids);
                walk.cursor = list.next_cursor;
                walk.after = b.1.last().copied();
                if walk.cursor.is_none() {
                    ensure!(
                        walk.seen == want,
                        "walk: not every live tenant once, in order"
                    );
                    *walk = Walk {
                        completed: walk.completed + 1,
                        ..Walk::default()
                    };
                }
                Ok((t, b.0))
            }
            Probe::Show { by_id } => {
                // Spread over the fleet; a deleted tenant has no live subdomain, take the next.
                let at = (i * 7919) % self.rows.len();
                let target = match self.rows[at].is_live() {
                    true => at,
                    false => (at + 1) % self.rows.len(),
                };
                let first = match api_first {
                    true => None,
                    false => Some(baseline::show(&mut self.sql, *by_id, &self.rows[target]).await?),
                };
                let t = &self.rows[target];
                let key = if *by_id {
                    t.id.to_string()
                } else {
                    t.subdomain.clone()
                };
                let (took, body) = self.get(&format!("/admin/v1/tenants/{key}")).await?;
                let view: View = serde_json::from_slice(&body).context("a tenant")?;
                ensure!(
                    view.id == t.id && view.subdomain == t.subdomain,
                    "{key}: another tenant"
                );
                let b = match first {
                    Some(b) => b,
                    None => baseline::show(&mut self.sql, *by_id, t).await?,
                };
                Ok((took, b))
            }
        }
    }

    /// A list page through the API, its rows checked against the fleet and `filter`.
    async fn list(&self, path: &str, filter: &Filter) -> Result<(f64, List)> {
        let (took, body) = self.get(path).await?;
        let list: List = serde_json::from_slice(&body).context("a tenant list")?;
        for v in &list.data {
            let r = &self.rows[*self.index.get(&v.id).context("an unknown id")?];
            let shown = v.status == r.status && v.plan == r.plan && v.subdomain == r.subdomain;
            ensure!(
                shown && filter.matches(r),
                "{filter:?}: {} listed",
                v.subdomain
            );
        }
        Ok((took, list))
    }

    pub async fn measure(&mut self, case: &Case, warmup: u64, samples: u64) -> Result<Measured> {
        let want = match &case.probe {
            Probe::Page { filter, .. } => filter.expected(&self.rows),
            Probe::Walk | Probe::Show { .. } => self.live.clone(),
        };
        let mut walk = Walk::default();
        let (mut tenantry, mut baseline) = (Vec::new(), Vec::new());
        for i in 0..(warmup + samples) as usize {
            let (t, b) = self.sample(&case.probe, i, &want, &mut walk).await?;
            if i >= warmup as usize {
                tenantry.push(t);
                baseline.push(b);
            }
        }
        if matches!(case.probe, Probe::Walk) {
            ensure!(
                walk.completed > 0,
                "no cursor walk completed: raise --samples"
            );
        }
        Ok(Measured {
            label: case.label.clone(),
            target: case.target,
            samples: tenantry.len(),
            tenantry: Stats::of(tenantry),
            baseline: Stats::of(baseline),
        })
    }
}

fn keys_ids(keys: &[Key]) -> Vec<Uuid> {
    keys.iter().map(|k| k.1).collect()
}

/// A cursor walk in progress: the API's cursor, the baseline's last key, the ids seen so far.
#[derive(Default)]
struct Walk {
    cursor: Option<String>,
    after: Option<Key>,
    seen: Vec<Uuid>,
    completed: usize,
}

fn registry_query(filter: &Filter, page: usize) -> Result<TenantQuery> {
    Ok(TenantQuery {
        search: filter.search.map(str::to_owned),
        status: filter
            .status
            .map(|s| serde_json::from_value(serde_json::json!(s)))
            .transpose()?,
        plan: filter.plan.map(str::parse).transpose()?,
        page: page as u64,
        limit: LIMIT as u64,
        after: None,
    })
}
