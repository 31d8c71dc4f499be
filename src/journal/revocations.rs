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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use actors::store::Revoked;
use futures_util::future::join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use super::producer::{RenewingProducer, producer_config};
use crate::kafka::client_config;
use crate::service::sessions::{FeedError, FeedFuture, RevocationFeed};

/// How long the reader waits for a record before it looks at its stop flag and its progress again.
const POLL: Duration = Duration::from_millis(100);
/// Pause after the brokers did not answer the reader.
const RETRY: Duration = Duration::from_secs(1);

/// The revocations topic as the place revocations are published to.
pub struct RevocationTopic {
    producer: RenewingProducer,
    topic: String,
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
            producer: RenewingProducer::new(producer_config(brokers, properties, timeout))?,
            topic: topic.to_owned(),
        })
    }
}

impl RevocationTopic {
    /// Sends one record per revocation — with its value, or as a tombstone — and waits for every one. A
    /// producer the brokers no longer take (fenced after an outage) is replaced, and the records sent once
    /// more through the new one (a revocation sent twice is the same record twice).
    async fn send(&self, revoked: &[Revoked], tombstones: bool) -> Result<(), FeedError> {
        let mut renewed = false;
        loop {
            let producer = self.producer.current();
            let sent = Self::send_with(&producer, &self.topic, revoked, tombstones).await;
            match sent {
                Err(e) if !renewed && self.producer.renew_after(&producer, &e) => renewed = true,
                other => return other.map_err(|e| FeedError(e.to_string())),
            }
        }
    }

    async fn send_with(
        producer: &FutureProducer,
        topic: &str,
        revoked: &[Revoked],
        tombstones: bool,
    ) -> Result<(), KafkaError> {
        let records: Vec<([u8; 17], [u8; 8])> = revoked.iter().map(|r| encode(*r)).collect();
        let mut deliveries = Vec::with_capacity(records.len());
        for (key, value) in &records {
            let record = FutureRecord::<[u8], [u8]>::to(topic).key(&key[..]);
            let record = match tombstones {
                true => record,
                false => record.payload(&value[..]),
            };
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        }
        for delivery in join_all(deliveries).await {
            match delivery {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(e),
                Err(_) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
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
    stop: Arc<AtomicBool>,
    caught_up: watch::Receiver<bool>,
    thread: Option<JoinHandle<()>>,
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
        let consumer: BaseConsumer = client_config(brokers, properties)
            .set("group.id", "digit-user-revocations")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // a revocation reaches every pod within a second: the broker holds a fetch 100 ms at most
            .set("fetch.wait.max.ms", "100")
            .create()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tell, caught_up) = watch::channel(false);
        let reader = Reader {
            consumer,
            topic: topic.to_owned(),
            stop: stop.clone(),
            tell,
            learn: Box::new(learn),
        };
        let thread = std::thread::Builder::new()
            .name("revocations-reader".into())
            .spawn(move || reader.run())
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        Ok(Self {
            stop,
            caught_up,
            thread: Some(thread),
        })
    }

    /// Resolves once the reader has read the topic to the end it had when the reader began.
    pub async fn caught_up(&self) {
        let mut caught_up = self.caught_up.clone();
        // an error means the reader stopped: nothing more will come
        let _ = caught_up.wait_for(|up| *up).await;
    }
}

impl Drop for RevocationReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The reading thread's state.
struct Reader {
    consumer: BaseConsumer,
    topic: String,
    stop: Arc<AtomicBool>,
    tell: watch::Sender<bool>,
    learn: Box<dyn Fn(Revoked) + Send>,
}

impl Reader {
    fn run(self) {
        let Some(ends) = self.assign() else { return };
        let mut caught_up = false;
        let mut failing = false;
        // per partition, the offset after the last message handed to `learn` (the consumer's own position
        // may run ahead of it: it counts what was fetched, not what was handed over)
        let mut read: HashMap<i32, i64> = HashMap::new();
        while !self.stop.load(Ordering::SeqCst) {
            match self.consumer.poll(POLL) {
                Some(Ok(message)) => {
                    failing = false;
                    read.insert(message.partition(), message.offset() + 1);
                    if let Some(revoked) = decode(message.key(), message.payload()) {
                        (self.learn)(revoked);
                    }
                }
                Some(Err(e)) => {
                    if !failing {
                        tracing::warn!(error = %e, "revocations: reading the topic failed; retrying");
                    }
                    failing = true;
                    std::thread::sleep(RETRY);
                }
                None => {}
            }
            if !caught_up && reached(&ends, &read) {
                caught_up = true;
                tracing::info!("revocations: the topic read to its end");
                self.tell.send_replace(true);
            }
        }
    }

    /// Assigns every partition of the topic from its start, once the brokers know it; the end of each,
    /// as it is now. `None` when stopped first.
    fn assign(&self) -> Option<Vec<(i32, Option<i64>)>> {
        let mut warned = false;
        while !self.stop.load(Ordering::SeqCst) {
            match self.ends() {
                Ok(ends) => {
                    let mut assignment = TopicPartitionList::new();
                    for (partition, _) in &ends {
                        let _ = assignment.add_partition_offset(
                            &self.topic,
                            *partition,
                            Offset::Beginning,
                        );
                    }
                    match self.consumer.assign(&assignment) {
                        Ok(()) => return Some(ends),
                        Err(e) => tracing::warn!(error = %e, "revocations: assignment failed"),
                    }
                }
                Err(e) if !warned => {
                    warned = true;
                    tracing::warn!(error = %e, topic = %self.topic, "revocations: topic not readable yet; retrying");
                }
                Err(_) => {}
            }
            std::thread::sleep(RETRY);
        }
        None
    }

    /// Each partition of the topic with its end offset now (`None` when it holds nothing).
    fn ends(&self) -> Result<Vec<(i32, Option<i64>)>, KafkaError> {
        let metadata = self.consumer.fetch_metadata(Some(&self.topic), RETRY * 5)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(KafkaError::MetadataFetch(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            ));
        }
        partitions
            .into_iter()
            .map(|p| {
                let (low, high) = self.consumer.fetch_watermarks(&self.topic, p, RETRY * 5)?;
                Ok((p, (high > low).then_some(high)))
            })
            .collect()
    }
}

/// Whether every partition was read up to its end in `ends`, `read` holding the offset after the last
/// message read from each.
fn reached(ends: &[(i32, Option<i64>)], read: &HashMap<i32, i64>) -> bool {
    ends.iter().all(|(partition, end)| match end {
        None => true,
        Some(end) => read.get(partition).is_some_and(|at| at >= end),
    })
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
