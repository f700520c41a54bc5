//! `docs/benchmarks.md`, written by the benchmarks: each owns one section, from its `## `
//! heading to the next, and rewrites only that one.

use std::path::Path;

/// The top of a new `docs/benchmarks.md`.
pub const INTRO: &str = "# Benchmarks\n\n\
Every figure here is a ratio against a baseline measured in the same run, on the same machine \
and server. Run them with `scripts/bench <name>` (`scripts/bench provision` for example): each \
starts what it needs, builds in release mode, prints its table and refreshes its own section \
below; other sections are left as they are.\n";

/// Replaces the section under `heading` in `doc` with `section` (which starts with that heading),
/// or appends it; a missing file starts from [`INTRO`].
pub fn write_section(doc: &Path, heading: &str, section: &str) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(doc) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => INTRO.to_owned(),
        Err(e) => return Err(e),
    };
    std::fs::write(doc, splice(&existing, heading, section))
}

/// `existing` with the section under `heading` replaced by `section` (or appended).
pub fn splice(existing: &str, heading: &str, section: &str) -> String {
    let section = format!("{}\n", section.trim_end());
    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == heading) else {
        let mut out = existing.trim_end().to_owned();
        out.push_str("\n\n");
        out.push_str(&section);
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out: String = lines[..start].concat();
    out.push_str(&section);
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].concat());
    }
    out
}

/// The median of `samples` (the mean of the middle two for an even count). Panics on none.
pub fn median(samples: &[f64]) -> f64 {
    assert!(!samples.is_empty(), "no samples");
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[3.0, 1.0, 2.0, 9.0]), 2.5);
    }

    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_or_appended() {
        let h = "## Mine";
        let fresh = splice(INTRO, h, &format!("{h}\n\nfirst\n"));
        assert!(fresh.starts_with(INTRO) && fresh.ends_with(&format!("{h}\n\nfirst\n")));
        let doc = format!("# B\n\n## Before\n\nkeep\n\n{h}\n\nold\n\n## After\n\nkeep too\n");
        let updated = splice(&doc, h, &format!("{h}\n\nnew\n"));
        assert_eq!(
            updated,
            format!("# B\n\n## Before\n\nkeep\n\n{h}\n\nnew\n\n## After\n\nkeep too\n")
        );
        assert_eq!(splice(&updated, h, &format!("{h}\n\nnew\n")), updated);
    }
}

/// What a benchmark ran on, for the heading of its section.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub pg_version: String,
    /// `fsync …, synchronous_commit …, full_page_writes …`.
    pub durability: String,
    /// All three on, as on a real server.
    pub durable: bool,
}

/// This machine and the PostgreSQL server at `admin_url`.
pub async fn machine(admin_url: &str) -> Result<Machine, sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
    let db = sea_orm::Database::connect(admin_url).await?;
    let mut settings = Vec::new();
    for name in [
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "server_version",
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SHOW {name}"),
            ))
            .await?
            .ok_or_else(|| sea_orm::DbErr::Custom(format!("SHOW {name} returned no row")))?;
        settings.push(row.try_get_by_index::<String>(0)?);
    }
    db.close().await.ok();
    let [fsync, sync_commit, fpw, pg_version] =
        <[String; 4]>::try_from(settings).expect("four settings were read");
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    Ok(Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        pg_version,
        durable: fsync == "on" && sync_commit == "on" && fpw == "on",
        durability: format!(
            "fsync {fsync}, synchronous_commit {sync_commit}, full_page_writes {fpw}"
        ),
    })
}
