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
    // read through to the journal's end, the claim its catch-up appended included
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
            opened: None,
            last_used: None,
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
    let (journal, dir, store, user) = stored_user("EMP1").await;
    drop(store);
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
    crate::testing::employee_family(&user.uuid)
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
    let (journal, dir, store, user) = stored_user("EMP1").await;
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
    drop(store);
    // a restart before the broker answers keeps what was kept behind
    journal.set_weather(Weather::Fair);
    let store = journaled(dir.path(), &journal);
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

/// `n` fresh users whose home is `home`.
fn users_in(store: &Store, home: u16, n: usize) -> Vec<crate::domain::UserRecord> {
    (0..)
        .map(|i| employee(store, &format!("SAME{i}")))
        .filter(|u| partition_of_id(u.id).0 == home)
        .take(n)
        .collect()
}

#[tokio::test]
async fn changes_read_again_after_a_lost_offset_apply_to_the_same_values() {
    let (journal, dir, store, first) = stored_user("EMP1").await;
    let home = partition_of_id(first.id).0;
    let local = store.db.open_tree(JOURNAL_LOCAL).unwrap();
    let offset_before = local.get(home.to_be_bytes()).unwrap().unwrap();
    let mut more = users_in(&store, home, 2);
    let (second, third) = (more.remove(0), more.remove(0));
    store.users().insert(&second).await.unwrap();
    assert_ne!(
        local.get(home.to_be_bytes()).unwrap().unwrap(),
        offset_before
    );
    // a crash after the second change's undo record went but before its offset was recorded
    local.insert(home.to_be_bytes(), offset_before).unwrap();
    let expected = contents(&store);
    drop((local, store));

    let store = journaled(dir.path(), &journal);
    store.catch_up(&[home], |_, _| {}).await.unwrap();
    assert_eq!(
        contents(&store),
        expected,
        "read again, applied to the same values"
    );
    let end = journal.messages(home).len() as i64 - 1;
    assert_eq!(
        store.applied_offset(home).unwrap(),
        Some(end),
        "the offset back at the journal's end: the change was read again"
    );
    assert_eq!(store.users().len(), 2);
    store.users().insert(&third).await.unwrap();
    let (_d, restored) = restored(&journal).await;
    assert_eq!(contents(&restored), contents(&store));
}

mod batching;

mod fencing;
mod imported;

mod standby;
