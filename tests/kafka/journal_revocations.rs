//! The journal's revocations topic against a real broker: what was published before a reader starts is
//! all in when it reports caught up, what is published afterwards reaches it within a second, and a
//! reader started before the topic exists waits for it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actors::store::Revoked;
use digit_user::journal::revocations::{RevocationReader, RevocationTopic};
use digit_user::service::sessions::RevocationFeed;

use crate::broker::Broker;

const TOPIC: &str = "digit-user.revocations";

fn publisher(broker: &Broker) -> RevocationTopic {
    RevocationTopic::new(
        &broker.address(),
        &BTreeMap::new(),
        TOPIC,
        Duration::from_secs(5),
    )
    .unwrap()
}

/// A reader of the topic and what it learned so far.
fn reader(broker: &Broker) -> (RevocationReader, Arc<Mutex<Vec<Revoked>>>) {
    let learned = Arc::new(Mutex::new(Vec::new()));
    let sink = learned.clone();
    let reader = RevocationReader::start(&broker.address(), &BTreeMap::new(), TOPIC, move |r| {
        sink.lock().unwrap().push(r)
    })
    .unwrap();
    (reader, learned)
}

fn access(n: u8) -> Revoked {
    Revoked::Access([n; 16], 4_000_000_000_000)
}

#[test]
fn a_reader_is_caught_up_with_everything_published_before_it_and_learns_what_follows_within_a_second()
 {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let feed = publisher(&broker);
    let before = vec![
        Revoked::Family([1; 16], 4_000_000_000_000),
        access(2),
        access(3),
    ];
    runtime.block_on(feed.publish(before.clone())).unwrap();

    let (reader, learned) = reader(&broker);
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), reader.caught_up())
            .await
            .expect("caught up")
    });
    assert_eq!(
        *learned.lock().unwrap(),
        before,
        "everything published before, in order, when caught up"
    );

    runtime.block_on(feed.publish(vec![access(4)])).unwrap();
    let published = Instant::now();
    while !learned.lock().unwrap().contains(&access(4)) {
        assert!(
            published.elapsed() < Duration::from_secs(1),
            "a revocation published later reached the reader within 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_reader_started_before_its_topic_exists_waits_for_it() {
    let broker = Broker::start();
    let (reader, learned) = reader(&broker);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let early = runtime.block_on(async {
        tokio::time::timeout(Duration::from_millis(1500), reader.caught_up())
            .await
            .is_ok()
    });
    assert!(!early, "not caught up with a topic that does not exist");

    broker.create_topic(TOPIC, 1);
    runtime
        .block_on(publisher(&broker).publish(vec![access(9)]))
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), reader.caught_up())
            .await
            .expect("caught up once the topic exists")
    });
    let started = Instant::now();
    while !learned.lock().unwrap().contains(&access(9)) {
        assert!(started.elapsed() < Duration::from_secs(5), "learned");
        std::thread::sleep(Duration::from_millis(10));
    }
}
