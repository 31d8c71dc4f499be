//! The journal topic as a log on a real broker: change sets appended to a partition and read back into an
//! empty store rebuild it entry for entry; a read resumes where the store stands; a store ahead of its
//! journal (the topic recreated) is refused; a store that lost its partition to another's claim gets no
//! write acknowledged and nobody applies the records it still landed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actors::domain::lockout::LockoutState;

use actors::testing::{contents, journaled_store, open_store, stored_employee};
use digit_user::journal::log::{JournalLog, ReadError};

use crate::broker::Broker;

const TOPIC: &str = "digit-user.journal";

#[actix_web::test]
async fn change_sets_appended_to_a_partition_rebuild_an_empty_store() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 4);
    let log = JournalLog::new(
        &broker.address(),
        &BTreeMap::new(),
        TOPIC,
        Duration::from_secs(10),
    )
    .unwrap();

    let source_dir = tempfile::tempdir().unwrap();
    let source = open_store(source_dir.path());
    let tap = source.tap(1024);
    let mut uuids = Vec::new();
    for i in 0..5 {
        uuids.push(stored_employee(&source, &format!("EMP{i}")).await.uuid);
    }
    let locked = LockoutState {
        locked_until: Some(i64::MAX),
        ..LockoutState::default()
    };
    source
        .logins()
        .save_lockout(&uuids[0], &locked)
        .await
        .unwrap();
    let mut last = -1;
    for (i, change) in source.drain(&tap).iter().enumerate() {
        let landed = log
            .append(2, 0, 100 + i as u64, None, change)
            .await
            .unwrap();
        assert_eq!(landed.first, last + 1, "offsets follow on");
        assert_eq!(
            landed.last - landed.first + 1,
            change.len() as i64,
            "one per op"
        );
        last = landed.last;
    }
    assert_eq!(
        log.end(2).unwrap(),
        last + 1,
        "the end is where the next append goes (the fence check compares it)"
    );

    // an empty store over the same topic brought to its end
    let reader = Arc::new(
        JournalLog::new(
            &broker.address(),
            &BTreeMap::new(),
            TOPIC,
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let target_dir = tempfile::tempdir().unwrap();
    let target = Arc::new(journaled_store(target_dir.path(), reader.clone()).unwrap());
    target.catch_up(&[2], |_, _| {}).await.unwrap();
    assert_eq!(contents(&target), contents(&source), "entry for entry");
    let applied = target
        .applied_offset(2)
        .unwrap()
        .expect("an offset applied");
    assert!(
        applied >= last,
        "applied up to the last change set or a claim after it"
    );
    assert!(
        target
            .logins()
            .lockout(&uuids[0])
            .unwrap()
            .locked_until
            .is_some(),
        "the lock came back"
    );

    // nothing new after where the store stands: a read hands over nothing
    let mut seen = 0;
    let again = reader
        .read(2, Some(applied), &mut |_, _| {
            seen += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!((again, seen), (0, 0));

    // a store that applied more than the journal holds (the topic recreated) is refused, and says so
    broker.create_topic("digit-user.journal.recreated", 4);
    let empty_topic = JournalLog::new(
        &broker.address(),
        &BTreeMap::new(),
        "digit-user.journal.recreated",
        Duration::from_secs(5),
    )
    .unwrap();
    match empty_topic.read(2, Some(applied), &mut |_, _| Ok(())) {
        Err(ReadError::Behind {
            applied: behind,
            end,
            ..
        }) => assert_eq!((behind, end), (applied, 0)),
        other => panic!("a store ahead of its journal was served: {other:?}"),
    }
}

/// A journaled store over `topic` at `broker`, with a log of its own (a pod).
fn pod(broker: &Broker, topic: &str) -> (tempfile::TempDir, Arc<actors::store::Store>) {
    let log = JournalLog::new(
        &broker.address(),
        &BTreeMap::new(),
        topic,
        Duration::from_secs(10),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(journaled_store(dir.path(), Arc::new(log)).unwrap());
    (dir, store)
}

#[actix_web::test]
async fn a_store_whose_partition_another_claimed_gets_no_write_acknowledged() {
    let broker = Broker::start();
    let topic = "digit-user.journal.fencing";
    // the store's partitions are the default 256: an employee's home may be any of them
    broker.create_topic(topic, 256);
    let (_a_dir, zombie) = pod(&broker, topic);
    let user = stored_employee(&zombie, "EMP1").await;
    let home = actors::partition::partition_of_id(user.id).0;

    let (_b_dir, owner) = pod(&broker, topic);
    owner.catch_up(&[home], |_, _| {}).await.unwrap();
    assert!(owner.users().get_by_uuid(&user.uuid).unwrap().is_some());

    let locked = LockoutState {
        locked_until: Some(i64::MAX),
        ..LockoutState::default()
    };
    let write = zombie.logins().save_lockout(&user.uuid, &locked).await;
    assert!(
        matches!(
            write,
            Err(actors::store::StoreError::Journal(
                actors::store::JournalError::Fenced(_)
            ))
        ),
        "acknowledged by a pod that lost the partition: {write:?}"
    );
    // the owner notices the records written behind its back, and a store rebuilt from the topic has
    // none of them
    assert_eq!(owner.durable().check_ends().await.unwrap(), 1);
    let (_c_dir, rebuilt) = pod(&broker, topic);
    rebuilt.catch_up(&[home], |_, _| {}).await.unwrap();
    assert_eq!(contents(&rebuilt), contents(&owner));
    assert_eq!(
        rebuilt.logins().lockout(&user.uuid).unwrap().locked_until,
        None
    );
}
