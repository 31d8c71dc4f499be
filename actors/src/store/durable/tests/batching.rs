//! The batched write path: changes that wait while an append is under way go together, at most
//! [`MAX_BATCH`] at a time; a failed append undoes all that waits; a dead process's waiting changes are
//! undone before its partition is served.

use std::sync::Arc;

use super::{family_of, journaled, restored, stored_user, users_in};
use crate::domain::lockout::LockoutState;
use crate::partition::partition_of_id;
use crate::store::durable::journaled::MAX_BATCH;
use crate::store::{StoreError, UserWriteError};
use crate::testing::{MemoryJournal, Weather, contents, employee};

/// Polls `done` every 5 ms for up to 5 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("not within 5 s: {what}");
}

/// The change sets `partition`'s journal holds (control messages aside).
fn change_sets(journal: &MemoryJournal, partition: u16) -> usize {
    journal
        .messages(partition)
        .iter()
        .filter(|m| m.end && !m.is_control())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_wait_while_an_append_is_under_way_go_together_in_the_next() {
    let (journal, _dir, store, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    let before = change_sets(&journal, home);

    journal.set_weather(Weather::Held);
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let (store, user) = (store.clone(), user.clone());
            tokio::spawn(async move {
                let family = uuid::Uuid::new_v4().to_string();
                store
                    .logins()
                    .open_family(&family, &family_of(&user), &[i; 32])
                    .await
            })
        })
        .collect();
    // every change is applied here (visible) while none is acknowledged
    until("50 families applied", || store.logins().counts().1 == 50).await;
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "none answered yet"
    );

    journal.set_weather(Weather::Fair);
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let appended = change_sets(&journal, home) - before;
    assert!(
        (1..=2).contains(&appended),
        "the append under way, then the 49 that waited together: {appended} change sets"
    );
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_append_undoes_every_change_waiting_in_its_partition_newest_first() {
    let (journal, _dir, store, first) = stored_user("EMP-FIRST").await;
    let home = partition_of_id(first.id).0;
    // one key written by every waiting change: only newest-first undo puts its first value back
    store
        .logins()
        .save_lockout(&first.uuid, &LockoutState::default())
        .await
        .unwrap();
    let before = contents(&store);

    journal.set_weather(Weather::Held);
    let writers: Vec<_> = users_in(&store, home, 20)
        .into_iter()
        .enumerate()
        .map(|(i, user)| {
            let (store, uuid) = (store.clone(), first.uuid.clone());
            tokio::spawn(async move {
                let lock = LockoutState {
                    locked_until: Some(i as i64 + 1),
                    ..LockoutState::default()
                };
                let logins = store.logins();
                let (locked, inserted) = tokio::join!(
                    logins.save_lockout(&uuid, &lock),
                    store.users().insert(&user)
                );
                (inserted, locked, user.id)
            })
        })
        .collect();
    until("the 20 users applied", || store.users().len() == 21).await;
    // the append under way fails midway: a prefix of it lands
    journal.set_weather(Weather::Down { landing: 3 });
    let mut ids = Vec::new();
    for writer in writers {
        let (inserted, locked, id) = writer.await.unwrap();
        assert!(
            matches!(inserted, Err(UserWriteError::Store(StoreError::Journal(_)))),
            "{inserted:?}"
        );
        assert!(matches!(locked, Err(StoreError::Journal(_))), "{locked:?}");
        ids.push(id);
    }
    assert_eq!(contents(&store), before, "every waiting change undone");

    journal.set_weather(Weather::Fair);
    let after = employee(&store, "EMP-AFTER");
    store.users().insert(&after).await.unwrap();
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
    assert_eq!(restored.users().len(), 2, "the first and the one after");
    assert!(
        ids.iter()
            .all(|id| restored.users().get(*id).unwrap().is_none())
    );
}

#[test]
fn changes_a_dead_process_left_waiting_are_undone_before_its_partition_is_served() {
    let runtime = || tokio::runtime::Runtime::new().unwrap();
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let (before, waiting, home) = {
        let rt = runtime();
        let store = journaled(dir.path(), &journal);
        let (before, waiting, home) = rt.block_on(async {
            let first = employee(&store, "EMP1");
            store.users().insert(&first).await.unwrap();
            let before = contents(&store);
            journal.set_weather(Weather::Held);
            let waiting = users_in(&store, partition_of_id(first.id).0, 1).remove(0);
            let writer = {
                let (store, user) = (store.clone(), waiting.clone());
                tokio::spawn(async move { store.users().insert(&user).await })
            };
            until("the waiting user applied", || {
                store.users().get(waiting.id).unwrap().is_some()
            })
            .await;
            assert!(!writer.is_finished());
            (before, waiting, partition_of_id(first.id).0)
        });
        // the process dies with the change waiting: its writer and flusher go with the runtime
        drop(rt);
        drop(store);
        (before, waiting, home)
    };
    journal.set_weather(Weather::Fair);
    let rt = runtime();
    rt.block_on(async {
        let store = journaled(dir.path(), &journal);
        assert!(
            store.users().get(waiting.id).unwrap().is_some(),
            "on disk before the restart"
        );
        store.catch_up(&[home], |_, _| {}).await.unwrap();
        assert!(store.users().get(waiting.id).unwrap().is_none(), "undone");
        assert_eq!(contents(&store), before);
    });
}

/// The sizes (messages) of the change sets in `partition`'s journal, in order (control messages aside).
fn change_set_sizes(journal: &MemoryJournal, partition: u16) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut open = 0;
    for m in journal.messages(partition) {
        if m.is_control() {
            continue;
        }
        open += 1;
        if m.end {
            sizes.push(open);
            open = 0;
        }
    }
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_carries_at_most_max_batch_changes() {
    let (journal, _dir, store, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    let open = |i: u32| {
        let (store, user) = (store.clone(), user.clone());
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&i.to_be_bytes());
        async move {
            let family = uuid::Uuid::new_v4().to_string();
            store
                .logins()
                .open_family(&family, &family_of(&user), &hash)
                .await
        }
    };
    open(0).await.unwrap();
    let per_change = *change_set_sizes(&journal, home).last().unwrap();
    let before = change_set_sizes(&journal, home).len();

    journal.set_weather(Weather::Held);
    let n = 2 * MAX_BATCH + 10;
    let writers: Vec<_> = (1..=n as u32).map(|i| tokio::spawn(open(i))).collect();
    until("every family applied", || {
        store.logins().counts().1 == n + 1
    })
    .await;
    journal.set_weather(Weather::Fair);
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let sizes = change_set_sizes(&journal, home).split_off(before);
    assert_eq!(
        sizes.iter().sum::<usize>(),
        n * per_change,
        "every change appended once: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|s| *s <= MAX_BATCH * per_change),
        "no append above {MAX_BATCH} changes: {sizes:?}"
    );
    assert!(
        sizes.len() >= 3,
        "the held append, then the rest in two or more: {sizes:?}"
    );
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
}
