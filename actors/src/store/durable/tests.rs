use std::sync::Arc;

use super::*;
use crate::domain::lockout::LockoutState;
use crate::partition::partition_of_id;
use crate::store::{Store, TreeId, UserWriteError};
use crate::testing::{MemoryJournal, Weather, contents, employee, journaled_store};

fn journaled(dir: &std::path::Path, journal: &Arc<MemoryJournal>) -> Arc<Store> {
    Arc::new(journaled_store(dir, journal.clone()).unwrap())
}

/// A fresh store over `journal`, brought to the end of every partition it holds.
async fn restored(journal: &Arc<MemoryJournal>) -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), journal);
    store
        .catch_up(&journal.partitions(), |_, _| {})
        .await
        .unwrap();
    (dir, store)
}

/// A fresh journal, a journaled store over it (and its dir) and one employee `name` stored through it.
async fn stored_user(
    name: &str,
) -> (
    Arc<MemoryJournal>,
    tempfile::TempDir,
    Arc<Store>,
    crate::domain::UserRecord,
) {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), &journal);
    let user = employee(&store, name);
    store.users().insert(&user).await.unwrap();
    (journal, dir, store, user)
}

fn locked() -> LockoutState {
    LockoutState {
        locked_until: Some(99),
        ..LockoutState::default()
    }
}

#[tokio::test]
async fn an_acknowledged_write_is_in_its_home_partition_and_a_wiped_store_comes_back_whole() {
    let (journal, _dir, store, user) = stored_user("EMP1").await;
    store
        .logins()
        .save_lockout(&user.uuid, &locked())
        .await
        .unwrap();

    let home = partition_of_id(user.id).0;
    assert_eq!(
        journal.partitions(),
        vec![home],
        "one partition, the user's"
    );
    let offset = store
        .applied_offset(home)
        .unwrap()
        .expect("an offset applied");
    assert_eq!(offset + 1, journal.messages(home).len() as i64);

    let (_restored_dir, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
    // read through to the journal's end, the barrier its catch-up appended included
    let read_through = journal.messages(home).len() as i64 - 1;
    assert!(read_through > offset);
    assert_eq!(restored.applied_offset(home).unwrap(), Some(read_through));
    // ids minted after the restore stay above the restored user's
    let next = employee(&restored, "EMP2");
    assert!(next.id >> 16 > user.id >> 16);
}

#[tokio::test]
async fn a_refused_write_appends_nothing() {
    let (journal, _dir, store, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    let before = journal.messages(home).len();
    let mut twin = employee(&store, "EMP1");
    twin.id = user.id + (1 << 16);
    assert!(matches!(
        store.users().insert(&twin).await,
        Err(UserWriteError::Duplicate)
    ));
    assert_eq!(journal.messages(home).len(), before);
}

#[tokio::test]
async fn a_write_cut_off_midway_is_refused_then_undone_before_the_partition_writes_again() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), &journal);
    let cut = employee(&store, "EMP1");
    let home = partition_of_id(cut.id).0;
    store.catch_up(&[home], |_, _| {}).await.unwrap();
    let before = contents(&store);

    journal.set_weather(Weather::Down { landing: 2 });
    let refused = store.users().insert(&cut).await;
    assert!(
        matches!(
            refused,
            Err(UserWriteError::Store(StoreError::Journal(
                JournalError::Unavailable(_)
            )))
        ),
        "{refused:?}"
    );
    assert_eq!(contents(&store), before, "nothing of it in the store");
    // while the broker is down the partition takes no write
    let again = store.users().insert(&cut).await;
    assert!(
        matches!(again, Err(UserWriteError::Store(StoreError::Journal(_)))),
        "{again:?}"
    );

    // the client retries once the broker is back: the cut-off change set is undone first
    journal.set_weather(Weather::Fair);
    let mut retry = employee(&store, "EMP1");
    retry.id = cut.id + (1 << 16);
    store.users().insert(&retry).await.unwrap();
    let undoes = journal
        .messages(home)
        .iter()
        .filter(|m| m.undoes.is_some())
        .count();
    assert!(
        undoes > 0,
        "the cut-off change set was undone in the journal"
    );
    assert!(store.users().get(cut.id).unwrap().is_none());
    assert!(store.users().get(retry.id).unwrap().is_some());
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
    assert_eq!(restored.users().len(), 1);
}

#[tokio::test]
async fn a_write_whose_acknowledgement_was_lost_is_found_before_the_next_one() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), &journal);
    let user = employee(&store, "EMP1");
    store
        .catch_up(&[partition_of_id(user.id).0], |_, _| {})
        .await
        .unwrap();
    journal.set_weather(Weather::AcksLost);
    assert!(store.users().insert(&user).await.is_err());
    assert!(
        store.users().get(user.id).unwrap().is_none(),
        "not applied yet"
    );

    journal.set_weather(Weather::Fair);
    // the client retries the registration: the journal holds the first, so the retry is a duplicate
    let mut retry = employee(&store, "EMP1");
    retry.id = user.id + (1 << 16);
    let retried = store.users().insert(&retry).await;
    assert!(
        matches!(retried, Err(UserWriteError::Duplicate)),
        "{retried:?}"
    );
    assert_eq!(store.users().len(), 1);
    assert!(store.users().get(user.id).unwrap().is_some());
}

#[tokio::test]
async fn housekeeping_removes_each_key_in_its_home_partition() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), &journal);
    let a = employee(&store, "EMP1");
    let b = employee(&store, "EMP2");
    let (home_a, home_b) = (partition_of_id(a.id).0, partition_of_id(b.id).0);
    assert_ne!(home_a, home_b, "test users in two partitions");
    for user in [&a, &b] {
        let family = crate::store::Family {
            user: user.uuid.clone(),
            user_type: "EMPLOYEE".into(),
            scope: "read".into(),
            expires_ms: 1_000,
            access_jti: uuid::Uuid::new_v4().to_string(),
            access_expires_ms: 500,
            revoked: false,
        };
        let hash = [user.id as u8; 32];
        store
            .logins()
            .open_family(&uuid::Uuid::new_v4().to_string(), &family, &hash)
            .await
            .unwrap();
    }
    let removed = store.logins().prune(2_000).await.unwrap();
    assert_eq!(removed, 4, "two user families, two refresh tokens");
    for home in [home_a, home_b] {
        let tombstones = journal
            .messages(home)
            .iter()
            .filter(|m| m.value.is_none())
            .count();
        assert_eq!(
            tombstones, 3,
            "family, refresh token, user family of partition {home}"
        );
    }
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
    assert_eq!(restored.logins().counts(), (0, 0));
}

#[tokio::test]
async fn a_journal_that_lost_what_the_store_applied_is_not_served() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let user = {
        let store = journaled(dir.path(), &journal);
        let user = employee(&store, "EMP1");
        store.users().insert(&user).await.unwrap();
        user
    };
    journal.lose(partition_of_id(user.id).0);
    let store = journaled(dir.path(), &journal);
    let home = partition_of_id(user.id).0;
    let refused = store.catch_up(&[home], |_, _| {}).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Journal(JournalError::Unservable(_)))
        ),
        "{refused:?}"
    );
    let write = store.logins().save_lockout(&user.uuid, &locked()).await;
    assert!(
        matches!(write, Err(StoreError::Journal(JournalError::Unservable(_)))),
        "{write:?}"
    );
    assert!(
        store.users().get(user.id).unwrap().is_some(),
        "nothing dropped"
    );
}

fn family_of(user: &crate::domain::UserRecord) -> crate::store::Family {
    crate::store::Family {
        user: user.uuid.clone(),
        user_type: "EMPLOYEE".into(),
        scope: "read".into(),
        expires_ms: i64::MAX,
        access_jti: uuid::Uuid::new_v4().to_string(),
        access_expires_ms: i64::MAX,
        revoked: false,
    }
}

fn families_in(journal: &MemoryJournal, home: u16) -> usize {
    journal
        .messages(home)
        .iter()
        .filter(|m| m.key.first() == Some(&(TreeId::Families as u8)))
        .count()
}

#[tokio::test]
async fn a_session_kept_behind_while_the_journal_is_down_is_appended_before_the_next_write() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let user = {
        let store = journaled(dir.path(), &journal);
        let user = employee(&store, "EMP1");
        store.users().insert(&user).await.unwrap();
        let home = partition_of_id(user.id).0;

        journal.set_weather(Weather::Down { landing: 0 });
        // a login's session lasts on this disk while the journal does not answer
        let family = uuid::Uuid::new_v4().to_string();
        store
            .logins()
            .open_family(&family, &family_of(&user), &[7; 32])
            .await
            .unwrap();
        assert!(store.logins().family_by_id(&family).unwrap().is_some());
        assert_eq!(families_in(&journal, home), 0, "not in the journal yet");
        // a lock may not lag: refused meanwhile
        let lock = store.logins().save_lockout(&user.uuid, &locked()).await;
        assert!(matches!(lock, Err(StoreError::Journal(_))), "{lock:?}");
        user
    };
    // a restart before the broker answers keeps what was kept behind
    journal.set_weather(Weather::Fair);
    let store = journaled(dir.path(), &journal);
    let home = partition_of_id(user.id).0;
    assert_eq!(store.durable().append_behind().await.unwrap(), 1);
    assert_eq!(
        families_in(&journal, home),
        1,
        "appended when the journal answered"
    );
    assert_eq!(
        store.durable().append_behind().await.unwrap(),
        0,
        "nothing left behind"
    );
    store
        .logins()
        .save_lockout(&user.uuid, &locked())
        .await
        .unwrap();
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
    assert_eq!(
        restored.logins().counts(),
        (1, 1),
        "the lock and the session"
    );
}

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

/// The change sets `partition`'s journal holds (barriers aside).
fn change_sets(journal: &MemoryJournal, partition: u16) -> usize {
    journal
        .messages(partition)
        .iter()
        .filter(|m| m.end && m.key != crate::store::journal::BARRIER_KEY)
        .count()
}

/// `n` fresh users whose home is `home`.
fn users_in(store: &Store, home: u16, n: usize) -> Vec<crate::domain::UserRecord> {
    (0..)
        .map(|i| employee(store, &format!("SAME{i}")))
        .filter(|u| partition_of_id(u.id).0 == home)
        .take(n)
        .collect()
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
