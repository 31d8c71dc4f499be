//! The directory topic (`journal.directory_topic`): the home partitions of users whose ids and uuids carry
//! none (moved in from egov-user, README "Moving from egov-user"). An import publishes each such user's id
//! and uuid with its home before it writes the user (`src/service/import.rs`), and every pod reads the topic
//! whole — from its start before it joins the group, then as it grows — into its store's homes
//! ([`actors::homes::Homes`]), which routing and the write paths consult before a key's own bits.
//!
//! A record's key is `i` and the id (8 bytes big-endian) or `u` and the uuid (16 bytes); its value the home
//! partition (2 bytes big-endian). Compaction keeps the latest record of each key. Ids and uuids are what
//! other DIGIT services already store and log; the topic holds nothing else of a user.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use actors::homes::HomeKey;
use actors::store::Store;
use rdkafka::error::KafkaError;

use super::producer::TopicWriter;
use super::tail::TopicTail;

/// The directory topic as the place imported users' homes are published to.
pub struct DirectoryTopic {
    writer: TopicWriter,
}

impl DirectoryTopic {
    /// A publisher to `topic` at `brokers`; a publish not acknowledged within `timeout` fails.
    pub fn new(
        brokers: &str,
        properties: &BTreeMap<String, String>,
        topic: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            writer: TopicWriter::new(brokers, properties, topic, timeout)?,
        })
    }

    /// Publishes every entry and waits until the brokers have them all.
    pub async fn publish(&self, entries: &[(HomeKey, u16)]) -> Result<(), KafkaError> {
        let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = entries
            .iter()
            .map(|(key, home)| (encode_key(*key), Some(home.to_be_bytes().to_vec())))
            .collect();
        self.writer.send_all(&records).await
    }
}

/// A key as a record's key.
fn encode_key(key: HomeKey) -> Vec<u8> {
    match key {
        HomeKey::Id(id) => [&[b'i'][..], &id.to_be_bytes()].concat(),
        HomeKey::Uuid(uuid) => [&[b'u'][..], uuid.as_bytes()].concat(),
    }
}

/// A record as an entry; `None` for a tombstone or a record that is not one.
fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<(HomeKey, u16)> {
    let home = u16::from_be_bytes(value?.try_into().ok()?);
    let key = match key?.split_first()? {
        (b'i', id) => HomeKey::Id(i64::from_be_bytes(id.try_into().ok()?)),
        (b'u', uuid) => HomeKey::Uuid(uuid::Uuid::from_slice(uuid).ok()?),
        _ => return None,
    };
    Some((key, home))
}

/// Starts the thread reading `topic` at `brokers` from its start into `store`'s homes (stopped when the
/// returned tail is dropped; [`TopicTail::caught_up`] once it has read what the topic held). The topic may
/// not exist yet: the reader retries until it does.
pub fn read_into(
    brokers: &str,
    properties: &BTreeMap<String, String>,
    topic: &str,
    store: Weak<Store>,
) -> Result<TopicTail, KafkaError> {
    TopicTail::start(
        brokers,
        properties,
        topic,
        "directory",
        move |key, value| {
            let (Some((key, home)), Some(store)) = (decode(key, value), store.upgrade()) else {
                return;
            };
            if let Err(e) = store.learn_home(key, home) {
                tracing::error!(error = %e, "directory: an imported user's id not kept above the sequence");
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_travels_as_its_key_and_value() {
        let uuid = uuid::Uuid::parse_str("0a8f3c51-3d5e-4f0a-9c61-2b7e8d9f0a11").unwrap();
        for (key, home) in [(HomeKey::Id(2_300_101), 17u16), (HomeKey::Uuid(uuid), 255)] {
            let record = encode_key(key);
            assert_eq!(
                decode(Some(&record), Some(&home.to_be_bytes())),
                Some((key, home))
            );
        }
        assert_eq!(
            decode(Some(&encode_key(HomeKey::Id(1))), None),
            None,
            "a tombstone"
        );
        assert_eq!(decode(Some(b"x12345678"), Some(&[0, 1])), None);
        assert_eq!(decode(Some(b"i123"), Some(&[0, 1])), None, "a short id");
        assert_eq!(decode(Some(&encode_key(HomeKey::Id(1))), Some(&[1])), None);
    }
}
