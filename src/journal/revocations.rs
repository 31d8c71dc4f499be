//! The revocations topic (`journal.revocations_topic`): every revocation — a logout, a lock, a password
//! change, a refresh token reused, the access token a refresh replaced — is published to it, and every pod
//! reads it whole, from its start at boot and then as it grows, into its in-memory revocation set. It
//! replaces telling the other pods over HTTP and pulling from them at start: Kafka keeps what a pod that
//! was down missed, and a pod is not ready before it has read the topic to the end it had at boot.
//!
//! A record's key is the revocation's tag (`f` a refresh family, `j` an access token) and its id (16
//! bytes); its value the moment it may be forgotten (epoch ms, 8 bytes big-endian). Compaction keeps one
//! record per id, and the tombstone a pod's hourly prune publishes for an ended one lets compaction drop it;
//! ids are random, so Kafka sees no PII.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::store::Revoked;
use rdkafka::error::KafkaError;

use super::producer::TopicWriter;
use super::tail::TopicTail;
use crate::service::sessions::{FeedError, FeedFuture, RevocationFeed};

/// The revocations topic as the place revocations are published to.
pub struct RevocationTopic {
    writer: TopicWriter,
}

impl RevocationTopic {
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
}

impl RevocationTopic {
    /// Sends one record per revocation — with its value, or as a tombstone — and waits for every one.
    async fn send(&self, revoked: &[Revoked], tombstones: bool) -> Result<(), FeedError> {
        let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = revoked
            .iter()
            .map(|r| {
                let (key, value) = encode(*r);
                (key.to_vec(), (!tombstones).then(|| value.to_vec()))
            })
            .collect();
        self.writer
            .send_all(&records)
            .await
            .map_err(|e| FeedError(e.to_string()))
    }
}

impl RevocationFeed for RevocationTopic {
    fn publish(&self, revoked: Vec<Revoked>) -> FeedFuture<'_> {
        Box::pin(async move { self.send(&revoked, false).await })
    }

    fn forget(&self, ended: Vec<Revoked>) -> FeedFuture<'_> {
        Box::pin(async move { self.send(&ended, true).await })
    }
}

/// A revocation as a record's key and value.
fn encode(revoked: Revoked) -> ([u8; 17], [u8; 8]) {
    let (tag, id, until) = match revoked {
        Revoked::Family(id, until) => (b'f', id, until),
        Revoked::Access(id, until) => (b'j', id, until),
    };
    let mut key = [0u8; 17];
    key[0] = tag;
    key[1..].copy_from_slice(&id);
    (key, until.to_be_bytes())
}

/// A record as a revocation; `None` for a tombstone or a record that is not one.
fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<Revoked> {
    let (tag, id) = key?.split_first()?;
    let id: [u8; 16] = id.try_into().ok()?;
    let until = i64::from_be_bytes(value?.try_into().ok()?);
    match tag {
        b'f' => Some(Revoked::Family(id, until)),
        b'j' => Some(Revoked::Access(id, until)),
        _ => None,
    }
}

/// The thread reading the revocations topic into a pod; stopped when dropped.
pub struct RevocationReader {
    tail: TopicTail,
}

impl RevocationReader {
    /// Starts reading `topic` at `brokers` from its start, handing each revocation to `learn`. The topic
    /// may not exist yet (the start creates it): the reader retries until it does.
    pub fn start(
        brokers: &str,
        properties: &BTreeMap<String, String>,
        topic: &str,
        learn: impl Fn(Revoked) + Send + 'static,
    ) -> Result<Self, KafkaError> {
        let tail = TopicTail::start(
            brokers,
            properties,
            topic,
            "revocations",
            move |key, value| {
                if let Some(revoked) = decode(key, value) {
                    learn(revoked);
                }
            },
        )?;
        Ok(Self { tail })
    }

    /// Resolves once the reader has read the topic to the end it had when the reader began.
    pub async fn caught_up(&self) {
        self.tail.caught_up().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_travels_as_its_key_and_value() {
        for revoked in [
            Revoked::Family([7; 16], 1_700_000_000_000),
            Revoked::Access([9; 16], 42),
        ] {
            let (key, value) = encode(revoked);
            assert_eq!(decode(Some(&key), Some(&value)), Some(revoked));
        }
        let (key, _) = encode(Revoked::Access([1; 16], 1));
        assert_eq!(decode(Some(&key), None), None, "a tombstone");
        assert_eq!(decode(Some(b"x"), Some(&[0; 8])), None);
        let mut other = key;
        other[0] = b'z';
        assert_eq!(decode(Some(&other), Some(&[0; 8])), None);
    }
}
