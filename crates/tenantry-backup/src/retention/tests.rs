use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate, TimeZone as _};

use super::*;

/// A fixed "now": Sunday 6 December 2026, 12:00 UTC (ISO week 2026-W49, Monday 30 November).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn policy(daily: u32, weekly: u32, monthly: u32, min_keep: u32) -> Policy {
    Policy {
        daily,
        weekly,
        monthly,
        min_keep,
    }
}

/// The times of the backups `policy` keeps (handles are the times themselves).
fn kept(times: &[DateTime<Utc>], policy: &Policy, now: DateTime<Utc>) -> BTreeSet<DateTime<Utc>> {
    let backups: Vec<_> = times.iter().map(|t| (*t, *t)).collect();
    let pruned: BTreeSet<_> = to_prune(&backups, policy, now).into_iter().collect();
    times
        .iter()
        .copied()
        .filter(|t| !pruned.contains(t))
        .collect()
}

fn dates(kept: &BTreeSet<DateTime<Utc>>) -> Vec<NaiveDate> {
    kept.iter().map(DateTime::date_naive).collect()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn a_year_of_nightly_backups_keeps_days_weeks_and_months() {
    let times: Vec<_> = (0..400)
        .map(|n| at(2026, 12, 6, 2) - Duration::days(n))
        .collect();
    let kept = kept(&times, &policy(7, 4, 12, 3), now());
    let expected = vec![
        // Monthly: the last backup of each month back to January.
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 31),
        // Weekly: the Sundays of the three weeks before this one.
        date(2026, 11, 15),
        date(2026, 11, 22),
        date(2026, 11, 29),
        // Daily (and this week, November, December and the newest three).
        date(2026, 11, 30),
        date(2026, 12, 1),
        date(2026, 12, 2),
        date(2026, 12, 3),
        date(2026, 12, 4),
        date(2026, 12, 5),
        date(2026, 12, 6),
    ];
    assert_eq!(dates(&kept), expected);
}

#[test]
fn hourly_backups_keep_one_per_day_plus_the_newest() {
    let times: Vec<_> = (0..240)
        .map(|n| at(2026, 12, 6, 12) - Duration::hours(n))
        .collect();
    let kept = kept(&times, &policy(3, 0, 0, 2), now());
    let expected: BTreeSet<_> = [
        at(2026, 12, 4, 23),
        at(2026, 12, 5, 23),
        at(2026, 12, 6, 11),
        at(2026, 12, 6, 12),
    ]
    .into();
    assert_eq!(kept, expected);
}

#[test]
fn periods_are_calendar_periods_not_counts_of_backups() {
    // Every other day: "7 daily" keeps the four in the last seven days, not seven backups.
    let times: Vec<_> = (0..20)
        .map(|n| at(2026, 12, 6, 2) - Duration::days(2 * n))
        .collect();
    let kept = kept(&times, &policy(7, 0, 0, 0), now());
    assert_eq!(
        dates(&kept),
        [
            date(2026, 11, 30),
            date(2026, 12, 2),
            date(2026, 12, 4),
            date(2026, 12, 6)
        ]
    );
}

#[test]
fn an_iso_week_spans_the_new_year() {
    // Thursday 31 December 2026 and Saturday 2 January 2027 are both in 2026-W53.
    let now = at(2027, 1, 3, 12);
    let times = [at(2026, 12, 27, 2), at(2026, 12, 31, 2), at(2027, 1, 2, 2)];
    let kept = kept(&times, &policy(0, 2, 0, 0), now);
    assert_eq!(dates(&kept), [date(2026, 12, 27), date(2027, 1, 2)]);
}

#[test]
fn fewer_backups_than_min_keep_are_all_kept() {
    let times = [at(2020, 1, 1, 0), at(2021, 6, 1, 0), at(2022, 3, 1, 0)];
    assert_eq!(kept(&times, &policy(0, 0, 0, 5), now()).len(), 3);
    assert_eq!(kept(&times, &policy(1, 1, 1, 2), now()).len(), 2);
}

#[test]
fn nothing_to_prune_in_an_empty_list() {
    let none: [(u32, DateTime<Utc>); 0] = [];
    assert!(to_prune(&none, &policy(7, 4, 12, 3), now()).is_empty());
}

#[test]
fn backups_from_the_future_are_kept_and_do_not_count_toward_min_keep() {
    let times = [
        now() + Duration::hours(1),
        now() + Duration::days(3),
        now() - Duration::hours(1),
        now() - Duration::days(2),
        now() - Duration::days(3),
    ];
    let kept = kept(&times, &policy(1, 0, 0, 2), now());
    let expected: BTreeSet<_> = times[..4].iter().copied().collect();
    assert_eq!(kept, expected);
}

#[test]
fn a_zero_policy_prunes_everything_in_the_past() {
    let backups = [
        (1, now() - Duration::days(1)),
        (2, now()),
        (3, now() + Duration::seconds(1)),
    ];
    assert_eq!(to_prune(&backups, &policy(0, 0, 0, 0), now()), [1, 2]);
}

#[test]
fn pruned_handles_come_back_in_input_order() {
    let backups = [
        ("c", now() - Duration::days(40)),
        ("a", now() - Duration::days(10)),
        ("b", now() - Duration::days(20)),
        ("new", now()),
    ];
    assert_eq!(
        to_prune(&backups, &policy(1, 0, 0, 0), now()),
        ["c", "a", "b"]
    );
}
