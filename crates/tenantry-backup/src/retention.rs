//! Which backups to keep: grandfather-father-son over calendar periods in UTC.
//!
//! Kept: the newest backup of each of the last `daily` days, of each of the last `weekly` ISO
//! weeks (Monday to Sunday) and of each of the last `monthly` months, the periods counted back
//! from `now` with the current one first; plus the newest `min_keep` backups whatever their
//! age; plus every backup dated after `now` (a skewed clock is no reason to delete anything).
//! Everything else is pruned. A period with no backup keeps nothing: the policy counts
//! calendar periods, not backups, so a week of failed backups does not stretch "7 daily" back
//! into older ones.
//!
//! [`to_prune`] is a pure function of the backups' times, the policy and `now`: no clock, no
//! I/O, so the caller decides when it runs and tests pass any `now`.

use std::collections::HashSet;

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};

/// How many backups of each period to keep. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Days (today counts as the first) whose newest backup is kept.
    pub daily: u32,
    /// ISO weeks (this week counts as the first) whose newest backup is kept.
    pub weekly: u32,
    /// Months (this month counts as the first) whose newest backup is kept.
    pub monthly: u32,
    /// The newest backups kept regardless of the periods.
    pub min_keep: u32,
}

/// The backups (by their handle `T`) that `policy` does not keep at `now`, in input order.
pub fn to_prune<T: Copy>(
    backups: &[(T, DateTime<Utc>)],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<T> {
    let today = now.date_naive();
    let mut newest_first: Vec<usize> = (0..backups.len()).collect();
    // Stable: of two backups at the same instant, the one listed first counts as newer.
    newest_first.sort_by_key(|&i| std::cmp::Reverse(backups[i].1));

    let mut keep = vec![false; backups.len()];
    let mut days = HashSet::new();
    let mut weeks = HashSet::new();
    let mut months = HashSet::new();
    let mut rank = 0u32;
    for &i in &newest_first {
        let taken = backups[i].1;
        if taken > now {
            keep[i] = true;
            continue;
        }
        let date = taken.date_naive();
        let day = periods_back(today, date, Period::Day);
        let week = periods_back(today, date, Period::Week);
        let month = periods_back(today, date, Period::Month);
        // `insert` is true for the first, so newest, backup seen in a period. All three run:
        // a week's newest backup may be kept as a daily, and the week's older ones must still
        // find the week taken.
        let daily = day < i64::from(policy.daily) && days.insert(day);
        let weekly = week < i64::from(policy.weekly) && weeks.insert(week);
        let monthly = month < i64::from(policy.monthly) && months.insert(month);
        keep[i] = rank < policy.min_keep || daily || weekly || monthly;
        rank += 1;
    }
    backups
        .iter()
        .zip(keep)
        .filter(|(_, kept)| !kept)
        .map(|((handle, _), _)| *handle)
        .collect()
}

#[derive(Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
}

/// How many whole periods `date` lies before the period holding `today` (0: the same one).
fn periods_back(today: NaiveDate, date: NaiveDate, period: Period) -> i64 {
    match period {
        Period::Day => (today - date).num_days(),
        Period::Week => (monday_of(today) - monday_of(date)).num_days() / 7,
        Period::Month => month_index(today) - month_index(date),
    }
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()))
}

fn month_index(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

#[cfg(test)]
mod tests;
