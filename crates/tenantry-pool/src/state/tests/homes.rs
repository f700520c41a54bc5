//! Which thread's waiter a released slot goes to, and how a tenant's slots even out over threads.

use super::*;

#[test]
fn a_released_slot_goes_to_a_waiter_on_its_home_thread_first_within_patience() {
    let mut state = state();
    let a = TenantId::new();
    let t = target(1, 1);
    let g = open(&mut state, a, &t, 10);
    let mut here = waiting(state.plan(a, &t, 10));
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // Another worker thread: it queues behind `here`, then gives back a slot opened
                // on it (the thread a slot is given back on is its home, see `Slot` above).
                let mut there = waiting(state.plan(a, &t, 10));
                assert!(state.release(a, g, slot()).is_none());
                assert!(
                    matches!(there.try_recv(), Ok(Wake::Slot(..))),
                    "the waiter on the slot's own thread goes first"
                );
                assert!(here.try_recv().is_err(), "the older one is still in line");
                // Nobody else waits on this thread: the next release goes to the oldest.
                assert!(state.release(a, g, slot()).is_none());
                assert!(matches!(here.try_recv(), Ok(Wake::Slot(..))));

                // Once the oldest has waited `patience`, it comes first, whatever its thread.
                state.patience = Duration::ZERO;
                let mut oldest = std::thread::scope(|inner| {
                    inner
                        .spawn(|| waiting(state.plan(a, &t, 10)))
                        .join()
                        .unwrap()
                });
                let mut local = waiting(state.plan(a, &t, 10));
                assert!(state.release(a, g, slot()).is_none());
                assert!(matches!(oldest.try_recv(), Ok(Wake::Slot(..))));
                assert!(local.try_recv().is_err());
            })
            .join()
            .unwrap();
    });
}

#[test]
fn a_thread_holding_two_more_of_a_tenant_s_slots_gives_one_up_to_a_waiter_on_another() {
    let (a, t) = (TenantId::new(), target(1, 3));
    let state = std::sync::Mutex::new(state());
    let step = std::sync::Barrier::new(2);
    // All three of the tenant's slots are opened on this thread.
    let g = {
        let mut s = state.lock().unwrap();
        open(&mut s, a, &t, 10);
        open(&mut s, a, &t, 10);
        open(&mut s, a, &t, 10)
    };
    // Each side records what it saw and asserts after the last step, so that a failed check
    // cannot leave the other side waiting at a barrier.
    let (released_first, released_second, there) = std::thread::scope(|scope| {
        let there = scope.spawn(|| {
            let (mut first, mut second) = {
                let mut s = state.lock().unwrap();
                (waiting(s.plan(a, &t, 10)), waiting(s.plan(a, &t, 10)))
            };
            step.wait(); // both queued on this thread
            step.wait(); // a slot released on the other
            let told_to_open = matches!(first.try_recv(), Ok(Wake::Retry));
            let opens = {
                let mut s = state.lock().unwrap();
                let opens = matches!(s.plan(a, &t, 10), Plan::Open(_));
                s.opened(a);
                opens
            };
            step.wait(); // opened here
            step.wait(); // another released on the other
            let handed = matches!(second.try_recv(), Ok(Wake::Slot(..)));
            (told_to_open, opens, handed)
        });
        step.wait();
        // Released here with only the other thread waiting: 3 here against 0 there, so the
        // slot comes back to be closed and the waiter is told to open its own.
        let first = state.lock().unwrap().release(a, g, slot()).is_some();
        step.wait();
        step.wait();
        // Now 2 here against 1 there: even enough, the next one is handed over.
        let second = state.lock().unwrap().release(a, g, slot()).is_none();
        step.wait();
        (first, second, there.join().unwrap())
    });
    assert!(released_first, "closed, not handed over");
    assert_eq!(
        there,
        (true, true, true),
        "(told to open, opens, handed a slot)"
    );
    assert!(released_second, "handed over");
}

#[test]
fn a_thread_is_a_home_unless_its_runtime_moves_tasks_between_threads() {
    let here = Home::current();
    assert_ne!(here, Home::ANYWHERE, "no runtime: the thread itself");
    let single = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(single.block_on(async { Home::current() }), here);
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let there = multi.block_on(async { tokio::spawn(async { Home::current() }).await.unwrap() });
    assert_eq!(there, Home::ANYWHERE);
}
