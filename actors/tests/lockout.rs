//! The lockout actor: one decision per user however many attempts arrive at once, persistence, the
//! mirror on the user record, and the ways a lock ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::actors::Clock;
use ::actors::domain::lockout::LockoutPolicy;
use ::actors::lockout::{Check, LockoutDeps, Lockouts, Outcome};
use ::actors::store::Store;

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_000_000;

fn lockouts(store: &Arc<Store>, clock: &Clock, cooldown_ms: i64) -> Lockouts {
    let deps = LockoutDeps {
        store: store.clone(),
        policy: LockoutPolicy {
            max_attempts: 5,
            window_ms: 30 * MIN,
            cooldown_ms,
            sustained_max: 100,
            stranger_delay_ms: MIN,
        },
        clock: clock.clone(),
        idle: Duration::from_secs(60),
    };
    Lockouts::new(deps, 100, Duration::from_secs(10))
}

/// A check that answers `verdict` after a short pause (so parallel attempts really overlap) and counts runs.
fn counted(runs: &Arc<AtomicUsize>, verdict: bool) -> impl Fn() -> Check<()> + use<> {
    let runs = runs.clone();
    move || {
        let runs = runs.clone();
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(verdict)
        })
    }
}

#[actix::test]
async fn twenty_parallel_wrong_attempts_are_evaluated_exactly_max_times() {
    let dir = tempfile::tempdir().unwrap();
    let store = ::actors::testing::open_store(dir.path());
    let user = ::actors::testing::stored_employee(&store, "EMP-1").await;
    let clock = Clock::manual(T0);
    let l = lockouts(&store, &clock, 60 * MIN);
    let runs = Arc::new(AtomicUsize::new(0));
    let attempts = (0..20).map(|_| l.attempt(&user.uuid, None, None, counted(&runs, false)));
    let outcomes = futures_util::future::join_all(attempts).await;
    let outcomes: Vec<Outcome<()>> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(runs.load(Ordering::SeqCst), 5, "checks evaluated");
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count();
    let locked_now = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::LockedNow { .. }))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Locked { .. }))
        .count();
    assert_eq!((failed, locked_now, refused), (4, 1, 15));
    // the lock is on disk and on the user record
    let stored = store.users().get_by_uuid(&user.uuid).unwrap().unwrap();
    assert!(stored.account_locked);
    assert_eq!(stored.account_locked_date, Some(T0));
    assert_eq!(
        store.logins().locked_users().unwrap(),
        vec![user.uuid.clone()]
    );
    // even the right password is refused now, without being evaluated
    let right = l
        .attempt(&user.uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert_eq!(
        right,
        Outcome::Locked {
            until: T0 + 60 * MIN
        }
    );
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[actix::test]
async fn a_success_resets_the_count_and_undecided_checks_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = ::actors::testing::open_store(dir.path());
    let user = ::actors::testing::stored_employee(&store, "EMP-2").await;
    let clock = Clock::manual(T0);
    let l = lockouts(&store, &clock, 60 * MIN);
    let runs = Arc::new(AtomicUsize::new(0));
    for remaining in [4, 3, 2] {
        let o = l
            .attempt(&user.uuid, None, None, counted(&runs, false))
            .await
            .unwrap();
        assert_eq!(o, Outcome::Failed { remaining });
    }
    for _ in 0..3 {
        let undecided: Outcome<&str> = l
            .attempt(&user.uuid, None, None, || {
                Box::pin(async { Err("hasher busy") })
            })
            .await
            .unwrap();
        assert_eq!(undecided, Outcome::Undecided("hasher busy"));
    }
    let ok = l
        .attempt(&user.uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert_eq!(ok, Outcome::Passed);
    let o = l
        .attempt(&user.uuid, None, None, counted(&runs, false))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Failed { remaining: 4 }, "counting starts again");
}

#[actix::test]
async fn a_lock_ends_by_timer_after_the_cooldown_and_survives_a_restart_until_then() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let cooldown = 60 * MIN; // the lock's end and the timer that ends it are the manual clock's
    // the first life runs in its own actix system: when it ends, its actors and store handles are gone
    let (path, first_clock) = (dir.path().to_owned(), clock.clone());
    let uuid = std::thread::spawn(move || {
        actix::System::new().block_on(async move {
            let store = ::actors::testing::open_store(&path);
            let user = ::actors::testing::stored_employee(&store, "EMP-3").await;
            let l = lockouts(&store, &first_clock, cooldown);
            let runs = Arc::new(AtomicUsize::new(0));
            for _ in 0..5 {
                l.attempt(&user.uuid, None, None, counted(&runs, false))
                    .await
                    .unwrap();
            }
            user.uuid
        })
    })
    .join()
    .unwrap();
    // the restart: a new store and directory over the same data dir
    let store = ::actors::testing::open_store(dir.path());
    let l = lockouts(&store, &clock, cooldown);
    let runs = Arc::new(AtomicUsize::new(0));
    let o = l
        .attempt(&uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Locked { .. }), "{o:?}");
    assert_eq!(l.resume().unwrap(), 1);
    clock.advance_ms(cooldown - 1);
    let o = l
        .attempt(&uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Locked { .. }), "1 ms early: {o:?}");
    clock.advance_ms(1);
    // the lock's state, then its mirror on the record: two writes, both waited for
    ::actors::testing::eventually("the timer unlocked", || async {
        store.logins().locked_users().unwrap().is_empty()
            && !store
                .users()
                .get_by_uuid(&uuid)
                .unwrap()
                .unwrap()
                .account_locked
    })
    .await;
    let record = store.users().get_by_uuid(&uuid).unwrap().unwrap();
    assert!(!record.account_locked);
    assert_eq!(record.account_locked_date, None);
    let o = l
        .attempt(&uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Passed);
}

#[actix::test]
async fn admin_unlock_and_a_lock_set_on_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = ::actors::testing::open_store(dir.path());
    let user = ::actors::testing::stored_employee(&store, "EMP-4").await;
    let clock = Clock::manual(T0);
    let l = lockouts(&store, &clock, 60 * MIN);
    let runs = Arc::new(AtomicUsize::new(0));
    // the record says locked 10 minutes ago (an admin or an import): locked for the rest of the cool-down
    let o = l
        .attempt(&user.uuid, Some(T0 - 10 * MIN), None, counted(&runs, true))
        .await
        .unwrap();
    assert_eq!(
        o,
        Outcome::Locked {
            until: T0 + 50 * MIN
        }
    );
    assert!(l.unlock(&user.uuid).await.unwrap());
    let o = l
        .attempt(&user.uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Passed);
    // a record lock older than the cool-down is over, and the record's flag is cleared (DIGIT's lazy unlock)
    store
        .users()
        .update(&user.uuid, None, T0, |old| {
            let mut new = old.clone();
            new.account_locked = true;
            new.account_locked_date = Some(T0 - 61 * MIN);
            Ok::<_, ()>(new)
        })
        .await
        .unwrap();
    let o = l
        .attempt(&user.uuid, Some(T0 - 61 * MIN), None, counted(&runs, true))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Passed);
    let record = store.users().get_by_uuid(&user.uuid).unwrap().unwrap();
    assert!(!record.account_locked && record.account_locked_date.is_none());
    assert!(!l.unlock(&user.uuid).await.unwrap(), "nothing to unlock");
}

#[actix::test]
async fn a_released_user_is_read_from_the_store_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = ::actors::testing::open_store(dir.path());
    let user = ::actors::testing::stored_employee(&store, "EMP-MOVED").await;
    let clock = Clock::manual(T0);
    let l = lockouts(&store, &clock, 60 * MIN);
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        l.attempt(&user.uuid, None, None, counted(&runs, false))
            .await
            .unwrap();
    }
    // the partition moved away and came back with the lock ended at the other pod
    store
        .logins()
        .save_lockout(&user.uuid, &Default::default())
        .await
        .unwrap();
    let stale = l
        .attempt(&user.uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert!(
        matches!(stale, Outcome::Locked { .. }),
        "the live actor still holds the lock"
    );
    assert_eq!(l.release(|uuid| uuid == user.uuid), 1);
    assert_eq!(l.release(|uuid| uuid == user.uuid), 0);
    let fresh = l
        .attempt(&user.uuid, None, None, counted(&runs, true))
        .await
        .unwrap();
    assert!(
        matches!(fresh, Outcome::Passed),
        "state read from the store"
    );
}
