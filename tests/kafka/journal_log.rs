//! The journal topic as a log on a real broker: change sets appended to a partition and read back into an
//! empty store rebuild it entry for entry; a second read resumes where the store stands; a store ahead of
//! its journal (the topic recreated) is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::domain::lockout::LockoutState;

use actors::testing::{contents, open_store, stored_employee};
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
        let offset = log.append(2, 100 + i as u64, None, change).await.unwrap();
        assert!(offset > last, "offsets grow");
        last = offset;
    }

    let target_dir = tempfile::tempdir().unwrap();
    let target = open_store(target_dir.path());
    // a read blocks: off the test's runtime
    let replayed = {
        let reader = JournalLog::new(
            &broker.address(),
            &BTreeMap::new(),
            TOPIC,
            Duration::from_secs(10),
        )
        .unwrap();
        let target = target.clone();
        actix_web::rt::task::spawn_blocking(move || reader.replay_into(&target, 2).unwrap())
            .await
            .unwrap()
    };
    assert_eq!(replayed.change_sets, 6);
    assert_eq!(replayed.unfinished, None);
    assert_eq!(contents(&target), contents(&source), "entry for entry");
    assert_eq!(target.applied_offset(2).unwrap(), Some(last));
    assert!(
        target
            .logins()
            .lockout(&uuids[0])
            .unwrap()
            .locked_until
            .is_some(),
        "the lock came back"
    );

    // nothing new: a second read applies nothing
    let again = log.replay_into(&target, 2).unwrap();
    assert_eq!((again.change_sets, again.messages), (0, 0));

    // another partition is untouched; a store that applied more than the journal holds is refused
    assert_eq!(log.replay_into(&target, 3).unwrap().change_sets, 0);
    let empty_topic = JournalLog::new(
        &broker.address(),
        &BTreeMap::new(),
        "digit-user.journal.recreated",
        Duration::from_secs(5),
    )
    .unwrap();
    broker.create_topic("digit-user.journal.recreated", 4);
    match empty_topic.replay_into(&target, 2) {
        Err(ReadError::Behind { applied, end, .. }) => assert_eq!((applied, end), (last, 0)),
        other => panic!("a store ahead of its journal was served: {other:?}"),
    }
}
