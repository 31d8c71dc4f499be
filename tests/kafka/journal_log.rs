//! The journal topic as a log on a real broker: change sets appended to a partition and read back into an
//! empty store rebuild it entry for entry; a read resumes where the store stands; a store ahead of its
//! journal (the topic recreated) is refused.

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
        let offset = log.append(2, 100 + i as u64, None, change).await.unwrap();
        assert!(offset > last, "offsets grow");
        last = offset;
    }

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
        "applied up to the last change set or a barrier after it"
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
