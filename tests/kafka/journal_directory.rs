//! The journal's directory topic against a real broker: the homes of imported users published before a
//! pod's reader starts are all known when it reports caught up, one published later within a second, keys
//! of our own still route by their bits, and the ids the pod mints from then on are above every imported id.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::domain::TenantId;
use actors::homes::HomeKey;
use actors::partition::{Partition, mint_id, mint_uuid};
use actors::testing::open_store;
use digit_user::journal::directory::{DirectoryTopic, read_into};

use crate::broker::Broker;

const TOPIC: &str = "digit-user.directory";

#[test]
fn a_pod_knows_every_imported_user_s_home_once_caught_up_and_a_later_one_within_a_second() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let topic = DirectoryTopic::new(
        &broker.address(),
        &BTreeMap::new(),
        TOPIC,
        Duration::from_secs(5),
    )
    .unwrap();
    let imported = uuid::Uuid::parse_str("0a8f3c51-3d5e-4f0a-9c61-2b7e8d9f0a11").unwrap();
    let before: Vec<(HomeKey, u16)> = (0..500)
        .map(|i| (HomeKey::Id(2_300_000 + i), (i % 16) as u16))
        .chain([(HomeKey::Uuid(imported), 9)])
        .collect();
    runtime.block_on(topic.publish(&before)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_store(dir.path()));
    let homes = store.homes().clone();
    let reader = read_into(
        &broker.address(),
        &BTreeMap::new(),
        TOPIC,
        Arc::downgrade(&store),
    )
    .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), reader.caught_up())
            .await
            .expect("caught up")
    });
    assert_eq!(
        homes.len(),
        501,
        "every entry published before, when caught up"
    );
    assert_eq!(homes.of_id(2_300_017), Partition(1));
    assert_eq!(homes.of_uuid(&imported), Partition(9));
    let ours = mint_uuid(Partition(4));
    assert_eq!(
        homes.of_uuid(&ours),
        Partition(4),
        "a minted uuid by its bits"
    );
    assert_eq!(homes.of_id(mint_id(3, Partition(6))), Partition(6));
    let tenant = TenantId::parse("pb.amritsar").unwrap();
    let (minted, _) = store.users().mint_ids(&tenant, "NEWUSER").unwrap();
    assert!(
        minted > 2_300_499,
        "a new user's id {minted} is above every imported id"
    );

    runtime
        .block_on(topic.publish(&[(HomeKey::Id(2_400_000), 12)]))
        .unwrap();
    let published = Instant::now();
    while homes.of_id(2_400_000) != Partition(12) {
        assert!(
            published.elapsed() < Duration::from_secs(1),
            "an entry published later reached the reader within 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
