use std::sync::Arc;
use std::sync::mpsc;

use super::*;
use crate::domain::lockout::LockoutState;
use crate::seal::{BlindIndexer, KEY_LEN, Keyring};
use crate::testing::{contents, employee, open_store, stored_employee};

fn options(dir: &std::path::Path) -> StoreOptions {
    StoreOptions {
        path: dir.to_owned(),
        cache_capacity_bytes: 8 << 20,
        flush_every_ms: None,
        commit_queue: 1024,
        partitions: 256,
    }
}

/// The test keys of [`open_store`], or others.
fn keys(seal: u8, blind: u8) -> StoreKeys {
    StoreKeys {
        keyring: Keyring::new(&[(1, [seal; KEY_LEN])]).unwrap(),
        blind: BlindIndexer::new(&[blind; KEY_LEN]),
    }
}

/// Enough entries that a scan reports progress midway.
fn fill(store: &Store) {
    let filler: Vec<Op> = (0u32..10_000)
        .map(|i| Op {
            tree: TreeId::Revoked,
            key: i.to_be_bytes().to_vec(),
            value: Some(vec![0; 8]),
        })
        .collect();
    store.writes.apply(filler).unwrap();
}

fn take_backup(store: &Store) -> (Vec<u8>, BackupSummary) {
    store
        .backup(
            &store.reserve_backup().unwrap(),
            Vec::new(),
            7,
            1024,
            |_, _| {},
        )
        .unwrap()
}

#[tokio::test]
async fn a_restore_holds_every_tree_as_it_was_and_mints_no_id_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let uuid = stored_employee(&store, "EMP0").await.uuid;
    let mut last = 0;
    for i in 1..20 {
        last = stored_employee(&store, &format!("EMP{i}")).await.id;
    }
    store
        .logins()
        .save_lockout(
            &uuid,
            &LockoutState {
                locked_until: Some(99),
                ..LockoutState::default()
            },
        )
        .await
        .unwrap();
    let family = crate::testing::employee_family(&uuid);
    store
        .logins()
        .open_family(&uuid::Uuid::new_v4().to_string(), &family, &[3; 32])
        .await
        .unwrap();
    let before = contents(&store);
    let (file, summary) = take_backup(&store);
    assert_eq!(summary.entries as usize, before.len());
    assert_eq!(verify(file.as_slice(), None).unwrap().1, summary.entries);
    assert_eq!(
        verify(file.as_slice(), Some(&backup_key(&keys(1, 2))))
            .unwrap()
            .1,
        summary.entries
    );
    assert!(matches!(
        verify(file.as_slice(), Some(&backup_key(&keys(1, 9)))),
        Err(BackupError::NotOurs)
    ));

    let target = tempfile::tempdir().unwrap();
    let restored = Store::restore(
        &options(target.path()),
        keys(1, 2),
        file.as_slice(),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(restored.entries, summary.entries);
    let store2 = Store::open(&options(target.path()), keys(1, 2)).unwrap();
    assert_eq!(contents(&store2), before, "every tree as it was");
    assert_eq!(store2.users().len(), 20);
    let fresh = employee(&store2, "NEW");
    assert!(
        (fresh.id >> 16) > (last >> 16),
        "ids minted after a restore stay above the restored ones"
    );
}

#[tokio::test]
async fn writes_during_a_backup_are_in_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    fill(&store);
    let before: Vec<i64> = {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(stored_employee(&store, &format!("OLD{i}")).await.id);
        }
        ids
    };
    // The scan stops at its first progress report until three users were created (index entries and all);
    // a writer thread keeps creating users until the backup returned.
    let (wrote, three_written) = mpsc::channel::<()>();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                rt.block_on(stored_employee(&store, &format!("DURING{n}")));
                n += 1;
                let _ = wrote.send(());
            }
        })
    };
    let mut waited = false;
    let backup_store = store.clone();
    let (file, summary) = tokio::task::spawn_blocking(move || {
        backup_store
            .backup(
                &backup_store.reserve_backup().unwrap(),
                Vec::new(),
                7,
                100_000,
                |_, _| {
                    if !waited {
                        for _ in 0..3 {
                            three_written.recv().unwrap();
                        }
                        waited = true;
                    }
                },
            )
            .unwrap()
    })
    .await
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    assert!(summary.during >= 3, "{summary:?}");

    let target = tempfile::tempdir().unwrap();
    Store::restore(
        &options(target.path()),
        keys(1, 2),
        file.as_slice(),
        |_, _| {},
    )
    .unwrap();
    let restored = Store::open(&options(target.path()), keys(1, 2)).unwrap();
    for id in before {
        assert!(restored.users().get(id).unwrap().is_some(), "user {id}");
    }
    // every restored user is whole: found by its unique name, which points back at it
    let tenant = crate::domain::TenantId::parse("pb.amritsar").unwrap();
    let mut during = 0;
    for kv in restored.writes.tree(TreeId::Users).iter() {
        let (key, _) = kv.unwrap();
        let id = i64::from_be_bytes(key.as_ref().try_into().unwrap());
        let user = restored.users().get(id).unwrap().unwrap();
        let found = restored
            .users()
            .get_unique(&tenant, user.user_type, &user.user_name)
            .unwrap()
            .map(|u| u.id);
        assert_eq!(found, Some(id), "{}", user.user_name);
        during += usize::from(user.user_name.starts_with("DURING"));
    }
    assert!(
        during >= 3,
        "the users created while the scan waited are in"
    );
}

#[test]
fn a_backup_that_would_hold_too_many_changes_fails_instead_of_growing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    fill(&store);
    let mut n = 0u32;
    let slot = store.reserve_backup().unwrap();
    assert!(
        matches!(store.reserve_backup(), Err(BackupError::Running)),
        "one backup at a time"
    );
    let busy = store.backup(&slot, Vec::new(), 7, 2, |_, _| {
        // three writers commit while the scan runs
        for _ in 0..3 {
            n += 1;
            store
                .writes
                .apply(vec![Op {
                    tree: TreeId::Lockouts,
                    key: n.to_be_bytes().to_vec(),
                    value: Some(b"{}".to_vec()),
                }])
                .unwrap();
        }
    });
    assert!(
        matches!(busy, Err(BackupError::TooBusy(2))),
        "{:?}",
        busy.err()
    );
    drop(slot);
    assert!(store.reserve_backup().is_ok(), "the slot is free again");
}

#[tokio::test]
async fn a_restore_refuses_other_keys_a_used_dir_and_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    stored_employee(&store, "EMP1").await;
    let (file, _) = take_backup(&store);

    let target = tempfile::tempdir().unwrap();
    let other_seal = Store::restore(
        &options(target.path()),
        keys(9, 2),
        file.as_slice(),
        |_, _| {},
    );
    assert!(matches!(other_seal, Err(BackupError::WrongKeys("sealing"))));
    let other_blind = Store::restore(
        &options(target.path()),
        keys(1, 9),
        file.as_slice(),
        |_, _| {},
    );
    assert!(matches!(
        other_blind,
        Err(BackupError::WrongKeys("blind-index"))
    ));
    assert!(
        !target.path().join("db").exists(),
        "nothing written for a refused restore"
    );

    let into_used = Store::restore(&options(dir.path()), keys(1, 2), file.as_slice(), |_, _| {});
    assert!(matches!(into_used, Err(BackupError::NotEmpty(_))));

    let mut damaged = file.clone();
    let at = damaged.len() - 40;
    damaged[at] ^= 0x80;
    assert!(verify(damaged.as_slice(), None).is_err());
    let cut_off = Store::restore(
        &options(target.path()),
        keys(1, 2),
        damaged.as_slice(),
        |_, _| {},
    );
    assert!(cut_off.is_err());
    match Store::open(&options(target.path()), keys(1, 2)) {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("restore"), "{why}"),
        other => panic!("a dir with an unfinished restore opened: {:?}", other.err()),
    }
}
