use std::collections::BTreeMap;

use super::*;
use crate::domain::lockout::LockoutState;
use crate::store::writes::Tap;
use crate::testing::{MemoryJournal, contents, journaled_store, open_store, stored_employee};

/// A store that takes journal records (its own journal stays unused).
fn target_store(dir: &std::path::Path) -> std::sync::Arc<Store> {
    let journal = std::sync::Arc::new(MemoryJournal::default());
    std::sync::Arc::new(journaled_store(dir, journal).unwrap())
}

/// A source store after users, an update, a lock and its clearing, and the journal its change sets make.
async fn journaled_source() -> (
    tempfile::TempDir,
    std::sync::Arc<Store>,
    Vec<JournalMessage>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let tap: Tap = store.writes.tap(1024);
    let mut uuids = Vec::new();
    for i in 0..4 {
        uuids.push(stored_employee(&store, &format!("EMP{i}")).await.uuid);
    }
    store
        .users()
        .update(&uuids[1], None, 5, |old| {
            let mut new = old.clone();
            new.user_name = "RENAMED".into();
            Ok::<_, ()>(new)
        })
        .await
        .unwrap();
    let locked = LockoutState {
        locked_until: Some(99),
        ..LockoutState::default()
    };
    store
        .logins()
        .save_lockout(&uuids[2], &locked)
        .await
        .unwrap();
    store
        .logins()
        .save_lockout(&uuids[3], &locked)
        .await
        .unwrap();
    store
        .logins()
        .save_lockout(&uuids[3], &LockoutState::default())
        .await
        .unwrap();
    let log = store
        .writes
        .drain(&tap)
        .iter()
        .enumerate()
        .flat_map(|(i, ops)| encode(0, 1000 + i as u64, None, ops))
        .collect();
    (dir, store, log)
}

/// Replays `log` (offsets are positions) into `store`; returns what was left unfinished.
fn replay(store: &Store, log: &[(i64, JournalMessage)]) -> Option<Unfinished> {
    let mut replay = Replay::default();
    for (offset, message) in log {
        for change in replay.feed(*offset, message).unwrap() {
            store.apply_journaled(7, &change).unwrap();
        }
    }
    replay.finish()
}

fn numbered(log: Vec<JournalMessage>) -> Vec<(i64, JournalMessage)> {
    log.into_iter()
        .enumerate()
        .map(|(i, m)| (i as i64, m))
        .collect()
}

/// What log compaction leaves: each key's latest message, in log order.
fn compacted(log: &[(i64, JournalMessage)]) -> Vec<(i64, JournalMessage)> {
    let latest: BTreeMap<&[u8], i64> = log.iter().map(|(o, m)| (m.key.as_slice(), *o)).collect();
    log.iter()
        .filter(|(o, m)| latest[m.key.as_slice()] == *o)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_replayed_journal_rebuilds_the_store_whole_and_records_where_it_stands() {
    let (_dir, source, log) = journaled_source().await;
    let log = numbered(log);
    let target_dir = tempfile::tempdir().unwrap();
    let target = target_store(target_dir.path());
    assert_eq!(replay(&target, &log), None);
    assert_eq!(contents(&target), contents(&source));
    assert_eq!(
        target.applied_offset(7).unwrap(),
        Some(log.len() as i64 - 1)
    );
    assert_eq!(target.applied_offset(8).unwrap(), None);
    assert!(
        target
            .logins()
            .lockout(
                &target
                    .users()
                    .get_unique(
                        &crate::domain::TenantId::parse("pb.amritsar").unwrap(),
                        crate::domain::UserType::Employee,
                        "EMP2"
                    )
                    .unwrap()
                    .unwrap()
                    .uuid
            )
            .unwrap()
            .locked_until
            .is_some(),
        "the lock came back"
    );
}

#[tokio::test]
async fn a_compacted_journal_rebuilds_the_same_store() {
    let (_dir, source, log) = journaled_source().await;
    let log = numbered(log);
    let compact = compacted(&log);
    assert!(compact.len() < log.len(), "compaction removed something");
    assert!(
        compact.iter().filter(|(_, m)| m.end).count() < log.iter().filter(|(_, m)| m.end).count(),
        "some change sets lost their last message"
    );
    let target_dir = tempfile::tempdir().unwrap();
    let target = target_store(target_dir.path());
    assert_eq!(replay(&target, &compact), None);
    assert_eq!(contents(&target), contents(&source));
}

#[tokio::test]
async fn a_change_set_cut_off_at_the_end_is_not_applied_and_its_undo_cancels_it() {
    let (_dir, source, mut log) = journaled_source().await;
    let before = contents(&source);
    // a registration whose produce failed after two of its messages landed
    let dir = tempfile::tempdir().unwrap();
    let other = open_store(dir.path());
    let tap = other.writes.tap(1024);
    stored_employee(&other, "LATE").await;
    let late = other.writes.drain(&tap).remove(0);
    assert!(late.len() > 2);
    log.extend(encode(0, 9999, None, &late).into_iter().take(2));
    let log = numbered(log);

    let target_dir = tempfile::tempdir().unwrap();
    let target = target_store(target_dir.path());
    let unfinished = replay(&target, &log).expect("the cut-off change set");
    assert_eq!(unfinished.ops, late[..2].to_vec());
    assert_eq!(unfinished.change_set, 9999);
    assert_eq!(contents(&target), before, "nothing of it applied");

    // the owner appends the undo; every later reader, compacted or not, ends where the store stands
    assert_eq!(unfinished.covers, unfinished.ops);
    let undo = target.pre_images(&unfinished.covers).unwrap();
    let mut repaired: Vec<JournalMessage> = log.into_iter().map(|(_, m)| m).collect();
    repaired.extend(encode(0, 10_000, Some(9999), &undo));
    let repaired = numbered(repaired);
    for view in [repaired.clone(), compacted(&repaired)] {
        let dir = tempfile::tempdir().unwrap();
        let fresh = target_store(dir.path());
        assert_eq!(replay(&fresh, &view), None);
        assert_eq!(contents(&fresh), before);
    }

    // the undo itself cut off after its first message: the original stays dropped, and the undo of the undo
    // (the same values, read from a store that never applied the original) ends where the store stands
    let mut cut_twice: Vec<JournalMessage> = repaired.iter().map(|(_, m)| m.clone()).collect();
    let undo_len = undo.len();
    cut_twice.truncate(cut_twice.len() - undo_len + 1);
    let cut_twice = numbered(cut_twice);
    let dir = tempfile::tempdir().unwrap();
    let fresh = target_store(dir.path());
    let left = replay(&fresh, &cut_twice).expect("the cut-off undo");
    assert_eq!(left.change_set, 10_000);
    assert_eq!(
        contents(&fresh),
        before,
        "the original was dropped, not applied"
    );
    assert_eq!(
        left.covers.len(),
        left.ops.len() + 2,
        "the undo's keys and the original's"
    );
    let again = fresh.pre_images(&left.covers).unwrap();
    let mut healed: Vec<JournalMessage> = cut_twice.into_iter().map(|(_, m)| m).collect();
    healed.extend(encode(0, 10_001, Some(10_000), &again));
    let healed = numbered(healed);
    for view in [healed.clone(), compacted(&healed)] {
        let dir = tempfile::tempdir().unwrap();
        let fresh = target_store(dir.path());
        assert_eq!(replay(&fresh, &view), None);
        assert_eq!(contents(&fresh), before);
    }
}

#[test]
fn a_message_naming_no_tree_is_an_error() {
    let mut replay = Replay::default();
    let bad = JournalMessage {
        key: vec![250, 1, 2],
        value: None,
        change_set: 1,
        end: true,
        undoes: None,
        generation: 0,
    };
    assert_eq!(replay.feed(42, &bad), Err(RecordError::UnknownTree(42)));
}
