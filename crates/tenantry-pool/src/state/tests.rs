//! The bookkeeping alone: no connection, no runtime.

use secrecy::SecretString;

use super::*;

fn target(server: u128, max: usize) -> TenantTarget {
    TenantTarget {
        server: Some(uuid::Uuid::from_u128(server)),
        url: SecretString::from("postgres://unused"),
        max_connections: max,
    }
}

/// The bookkeeping never looks inside a slot: a number stands in for a connection, opened on
/// the thread that gives it back.
type Slot = u32;
type State = super::State<Slot>;

impl Homed for Slot {
    fn home(&self) -> Home {
        Home::current()
    }
}

/// Bookkeeping in which a last idle slot stays kept for longer than any test runs.
fn state() -> State {
    State::new(Duration::from_secs(600), Duration::ZERO)
}

fn slot() -> Slot {
    0
}

/// Leases a fresh slot for `tenant` (plan must be Open), returning its generation.
fn open(state: &mut State, tenant: TenantId, t: &TenantTarget, budget: usize) -> u64 {
    match state.plan(tenant, t, budget) {
        Plan::Open(generation) => {
            state.opened(tenant);
            generation
        }
        _ => panic!("expected Open"),
    }
}

#[test]
fn reuse_then_open_then_steal_then_wait() {
    let mut state = state();
    let (a, b, c) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 2);
    let ga = open(&mut state, a, &t, 2);
    assert!(state.release(a, ga, slot()).is_none(), "kept idle");
    assert!(
        matches!(state.plan(a, &t, 2), Plan::Take(..)),
        "a reuses its idle slot"
    );
    state.release(a, ga, slot());
    let gb = open(&mut state, b, &t, 2);
    // Budget of 2 full (a idle, b leased): c steals a's idle slot.
    assert!(matches!(state.plan(c, &t, 2), Plan::Steal(..)));
    state.opened(c);
    // Now b and c are leased, nothing idle: a must wait.
    assert!(matches!(state.plan(a, &t, 2), Plan::Wait(_)));
    state.release(b, gb, slot());
    assert_eq!(state.census()[0].1, 2, "permits never exceed the budget");
}

#[test]
fn a_steal_takes_a_spare_slot_before_a_tenant_s_last_one() {
    let mut state = state();
    let (lone, busy, newcomer) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 5);
    // `lone` holds one slot, idle the longest; `busy` holds two, idle since.
    let gl = open(&mut state, lone, &t, 3);
    state.release(lone, gl, 1);
    let gb = open(&mut state, busy, &t, 3);
    open(&mut state, busy, &t, 3);
    state.release(busy, gb, 2);
    state.release(busy, gb, 3);
    match state.plan(newcomer, &t, 3) {
        Plan::Steal(victim, _) => assert_ne!(victim, 1, "a tenant's last slot is kept"),
        _ => panic!("expected a steal"),
    }
    assert!(
        matches!(state.plan(lone, &t, 3), Plan::Take(1, _)),
        "`lone` is still warm"
    );
}

#[test]
fn a_tenant_that_holds_connections_never_takes_another_tenant_s_last_one() {
    let mut state = state();
    let (warm, other, newcomer) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 5);
    open(&mut state, warm, &t, 2);
    let go = open(&mut state, other, &t, 2);
    state.release(other, go, 7);
    // Budget full: `warm` (one leased) waits for its own; `other` keeps its only slot.
    assert!(matches!(state.plan(warm, &t, 2), Plan::Wait(_)));
    // A tenant with no connection at all may take it (it would miss either way).
    assert!(matches!(state.plan(newcomer, &t, 2), Plan::Steal(7, _)));
}

#[test]
fn a_busy_tenant_takes_another_tenant_s_last_slot_once_it_has_gone_quiet() {
    let kept_for = Duration::from_millis(50);
    let mut state = State::new(kept_for, Duration::from_millis(20));
    let (hot, quiet) = (TenantId::new(), TenantId::new());
    let t = target(1, 5);
    open(&mut state, hot, &t, 2);
    let gq = open(&mut state, quiet, &t, 2);
    state.release(quiet, gq, 7);
    // Budget full: `quiet`'s only slot served it a moment ago, so `hot` waits for its own.
    assert!(matches!(state.plan(hot, &t, 2), Plan::Wait(_)));
    std::thread::sleep(kept_for + Duration::from_millis(10));
    // Idle past `kept_for`: `hot` may take it to go deeper.
    assert!(matches!(state.plan(hot, &t, 2), Plan::Steal(7, _)));
    state.opened(hot);
    assert_eq!(state.tenant_census(&hot).unwrap().2, 2, "two leased");
    assert_eq!(state.census()[0].1, 2, "permits never exceed the budget");
}

#[test]
fn a_busy_tenant_goes_deeper_only_once_its_requests_have_queued_for_a_while() {
    let depth_after = Duration::from_millis(40);
    let mut state = State::new(Duration::ZERO, depth_after);
    let (hot, quiet, other) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 5);
    open(&mut state, hot, &t, 3);
    let gq = open(&mut state, quiet, &t, 3);
    state.release(quiet, gq, 7);
    let go = open(&mut state, other, &t, 3);
    state.release(other, go, 8);
    // A burst: the first request to queue waits for `hot`'s own connection.
    let _first = waiting(state.plan(hot, &t, 3));
    assert!(matches!(state.plan(hot, &t, 3), Plan::Wait(_)));
    std::thread::sleep(depth_after + Duration::from_millis(10));
    // Still queueing: sustained load, so it takes a quiet slot...
    assert!(matches!(state.plan(hot, &t, 3), Plan::Steal(7, _)));
    // ...one at a time: while that connect is under way the line waits for it.
    assert!(matches!(state.plan(hot, &t, 3), Plan::Wait(_)));
    state.opened(hot);
    assert!(matches!(state.plan(hot, &t, 3), Plan::Steal(8, _)));
}

#[test]
fn a_newcomer_takes_a_quiet_slot_before_a_busy_tenant_s_spare() {
    let kept_for = Duration::from_millis(50);
    let mut state = State::new(kept_for, Duration::ZERO);
    let (quiet, busy, newcomer) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 5);
    let gq = open(&mut state, quiet, &t, 3);
    state.release(quiet, gq, 1);
    std::thread::sleep(kept_for + Duration::from_millis(10));
    // `busy` holds two, one of them idle a moment ago (a spare, but in use).
    let gb = open(&mut state, busy, &t, 3);
    open(&mut state, busy, &t, 3);
    state.release(busy, gb, 2);
    match state.plan(newcomer, &t, 3) {
        Plan::Steal(victim, _) => assert_eq!(victim, 1, "the quiet tenant's slot"),
        _ => panic!("expected a steal"),
    }
}

#[test]
fn a_newcomer_takes_the_coldest_tenant_s_slot_not_the_least_recently_used() {
    // Every idle slot counts as quiet at once, so only heat and recency decide.
    let mut state = State::new(Duration::ZERO, Duration::ZERO);
    let (popular, rare, newcomer) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 5);
    // `popular` is served ten times, then `rare` once, after it.
    let gp = open(&mut state, popular, &t, 2);
    state.release(popular, gp, 1);
    for _ in 0..9 {
        assert!(matches!(state.plan(popular, &t, 2), Plan::Take(1, _)));
        state.release(popular, gp, 1);
    }
    let gr = open(&mut state, rare, &t, 2);
    state.release(rare, gr, 2);
    // `popular`'s slot is the least recently used, but `rare` is the colder tenant.
    match state.plan(newcomer, &t, 2) {
        Plan::Steal(victim, _) => assert_eq!(victim, 2, "the rarely used tenant's slot"),
        _ => panic!("expected a steal"),
    }
    state.opened(newcomer);
    assert_eq!(state.census()[0].1, 2, "permits never exceed the budget");
}

#[test]
fn a_busy_tenant_never_takes_a_slot_used_moments_ago_even_a_spare() {
    let mut state = state();
    let (hot, other) = (TenantId::new(), TenantId::new());
    let t = target(1, 5);
    open(&mut state, hot, &t, 3);
    let go = open(&mut state, other, &t, 3);
    open(&mut state, other, &t, 3);
    state.release(other, go, 7);
    // Budget full; `other`'s spare went idle just now: `hot` waits for its own.
    assert!(matches!(state.plan(hot, &t, 3), Plan::Wait(_)));
}

#[test]
fn a_freed_permit_wakes_a_tenant_waiting_for_its_own_slots_below_its_maximum() {
    let mut state = state();
    let (warm, other) = (TenantId::new(), TenantId::new());
    let t = target(1, 5);
    open(&mut state, warm, &t, 2);
    let go = open(&mut state, other, &t, 2);
    let mut woken = waiting(state.plan(warm, &t, 2));
    assert!(woken.try_recv().is_err(), "waiting");
    // `other`'s slot is closed (evicted, reaped): its permit frees, and `warm` may open.
    state.discard(other, go, Home::current());
    state.closed(Some(uuid::Uuid::from_u128(1)));
    assert!(matches!(woken.try_recv(), Ok(Wake::Retry)));
    assert!(matches!(state.plan(warm, &t, 2), Plan::Open(_)));
}

#[test]
fn a_tenant_waits_at_its_own_maximum_even_with_budget_left() {
    let mut state = state();
    let a = TenantId::new();
    let t = target(1, 1);
    open(&mut state, a, &t, 10);
    assert!(matches!(state.plan(a, &t, 10), Plan::Wait(_)));
}

fn waiting(plan: Plan<Slot>) -> oneshot::Receiver<Wake<Slot>> {
    match plan {
        Plan::Wait(woken) => woken,
        _ => panic!("expected Wait"),
    }
}

#[test]
fn a_released_slot_goes_to_the_oldest_waiter_not_to_a_newcomer() {
    let mut state = state();
    let a = TenantId::new();
    let t = target(1, 1);
    let g = open(&mut state, a, &t, 10);
    let mut first = waiting(state.plan(a, &t, 10));
    let gave_up = waiting(state.plan(a, &t, 10));
    let mut third = waiting(state.plan(a, &t, 10));
    drop(gave_up);

    assert!(state.release(a, g, slot()).is_none());
    assert!(matches!(first.try_recv(), Ok(Wake::Slot(_, handed)) if handed == g));
    // Handed over, not idle: a newcomer waits behind the line.
    let mut newcomer = waiting(state.plan(a, &t, 10));
    assert!(third.try_recv().is_err(), "one slot, one waiter");

    // The next release skips the waiter that gave up and serves the third, then the newcomer.
    assert!(state.release(a, g, slot()).is_none());
    assert!(matches!(third.try_recv(), Ok(Wake::Slot(..))));
    assert!(newcomer.try_recv().is_err());
    assert!(state.release(a, g, slot()).is_none());
    assert!(matches!(newcomer.try_recv(), Ok(Wake::Slot(..))));
    assert_eq!(state.census()[0].3, 1, "still one leased slot");
    assert!(state.release(a, g, slot()).is_none());
    assert!(
        matches!(state.plan(a, &t, 10), Plan::Take(..)),
        "idle at last"
    );
}

#[test]
fn a_freed_permit_wakes_one_waiter_of_the_server() {
    let mut state = state();
    let (a, b, c) = (TenantId::new(), TenantId::new(), TenantId::new());
    let t = target(1, 1);
    let ga = open(&mut state, a, &t, 1);
    let mut b_waits = waiting(state.plan(b, &t, 1));
    let mut c_waits = waiting(state.plan(c, &t, 1));
    // a's slot goes idle: the oldest waiter of the server is told, and only it.
    state.release(a, ga, slot());
    assert!(matches!(b_waits.try_recv(), Ok(Wake::Retry)));
    assert!(c_waits.try_recv().is_err());
    assert!(matches!(state.plan(b, &t, 1), Plan::Steal(..)));
}

#[test]
fn budgets_are_per_server() {
    let mut state = state();
    let (a, b) = (TenantId::new(), TenantId::new());
    open(&mut state, a, &target(1, 1), 1);
    open(&mut state, b, &target(2, 1), 1);
    assert_eq!(state.census().len(), 2);
}

#[test]
fn retiring_closes_idle_slots_now_and_leased_ones_on_release() {
    let mut state = state();
    let a = TenantId::new();
    let t = target(1, 3);
    let g = open(&mut state, a, &t, 5);
    open(&mut state, a, &t, 5);
    state.release(a, g, slot());
    assert_eq!(state.retire(a).len(), 1, "the idle slot closes now");
    assert!(
        state.release(a, g, slot()).is_some(),
        "the leased one closes when it comes back"
    );
    // A new lease after retirement belongs to the new generation and is kept.
    let g2 = open(&mut state, a, &t, 5);
    assert_ne!(g, g2);
    assert!(state.release(a, g2, slot()).is_none());
}

#[test]
fn reaping_keeps_one_warm_slot_per_tenant() {
    let mut state = state();
    let a = TenantId::new();
    let t = target(1, 3);
    let gens: Vec<u64> = (0..3).map(|_| open(&mut state, a, &t, 5)).collect();
    for g in gens {
        state.release(a, g, slot());
    }
    assert_eq!(state.reap(Duration::ZERO).len(), 2);
    assert_eq!(state.reap(Duration::ZERO).len(), 0);
    assert!(matches!(state.plan(a, &t, 5), Plan::Take(..)));
}

mod homes;
