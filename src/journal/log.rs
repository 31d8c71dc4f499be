//! The journal topic as a log: change sets appended to a partition, and a partition read back from an
//! offset to its end and replayed into the store.
//!
//! Appends use an idempotent producer (`acks=all`, `enable.gapless.guarantee`): messages of one partition
//! land in order, never twice, and when one fails none after it lands — so a change set that failed midway
//! left a prefix, which replay recognises ([`actors::store::journal`]). A failed or timed-out append has an
//! *unknown* outcome: the caller must not take another write for the partition until it read the
//! partition to its end again.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::store::journal::{CHANGE_SET_HEADER, END_HEADER, JournalMessage, Replay, encode};
use actors::store::{Op, Store, StoreError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka::client_config;

/// The byte in front of every stored value in a message's payload.
const VALUE: u8 = 1;

/// Why an append was not acknowledged. Its outcome is unknown: part or all of it may have landed.
#[derive(Debug, thiserror::Error)]
#[error("appending to journal partition {partition} failed (outcome unknown): {source}")]
pub struct AppendError {
    /// The partition.
    pub partition: i32,
    /// rdkafka's reason.
    pub source: KafkaError,
}

/// Why a partition could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The brokers did not answer or refused.
    #[error("reading journal partition {partition}: {source}")]
    Kafka {
        /// The partition.
        partition: i32,
        /// rdkafka's reason.
        source: KafkaError,
    },
    /// The journal holds less than the store already applied: the topic was deleted or recreated, or
    /// records were lost. The partition must not be served.
    #[error(
        "journal partition {partition} ends at offset {end} but this store applied up to {applied}: the \
         topic lost records (deleted or recreated?); serving it would drop acknowledged writes. Restore the \
         topic, or move this data dir away to rebuild it from the journal as it is"
    )]
    Behind {
        /// The partition.
        partition: i32,
        /// The next offset the journal would write.
        end: i64,
        /// The last offset this store applied.
        applied: i64,
    },
    /// A message is not a journal record.
    #[error("journal partition {partition}: {reason}")]
    Corrupt {
        /// The partition.
        partition: i32,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a read to the end did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Change sets applied.
    pub change_sets: u64,
    /// Messages read.
    pub messages: u64,
    /// The ops of a change set cut off at the end of the log (never acknowledged): the owner appends
    /// their undo before it takes a write.
    pub unfinished: Option<Vec<Op>>,
}

/// The journal topic of one deployment.
pub struct JournalLog {
    producer: FutureProducer,
    brokers: String,
    properties: BTreeMap<String, String>,
    topic: String,
    timeout: Duration,
}

impl JournalLog {
    /// A log on `topic` at `brokers`; an append not acknowledged within `timeout` fails.
    pub fn new(
        brokers: &str,
        properties: &BTreeMap<String, String>,
        topic: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let producer = client_config(brokers, properties)
            .set("enable.idempotence", "true")
            .set("enable.gapless.guarantee", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()?;
        Ok(Self {
            producer,
            brokers: brokers.to_owned(),
            properties: properties.clone(),
            topic: topic.to_owned(),
            timeout,
        })
    }

    /// Appends the ops of change set `change_set` to `partition`; the offset of its last message once
    /// every message is acknowledged.
    pub async fn append(
        &self,
        partition: i32,
        change_set: u64,
        ops: &[Op],
    ) -> Result<i64, AppendError> {
        let id = change_set.to_be_bytes();
        let messages = encode(change_set, ops);
        // a stored value travels behind one marker byte: an empty value (an index entry) must not read as
        // a tombstone, which a null payload is
        let payloads: Vec<Option<Vec<u8>>> = messages
            .iter()
            .map(|m| m.value.as_ref().map(|v| [&[VALUE][..], v].concat()))
            .collect();
        let pending: Vec<_> = messages
            .iter()
            .zip(&payloads)
            .map(|(m, payload)| {
                let mut headers = OwnedHeaders::new().insert(Header {
                    key: CHANGE_SET_HEADER,
                    value: Some(&id[..]),
                });
                if m.end {
                    headers = headers.insert(Header {
                        key: END_HEADER,
                        value: Some(&[1u8][..]),
                    });
                }
                let record = FutureRecord::<[u8], [u8]>::to(&self.topic)
                    .partition(partition)
                    .key(&m.key)
                    .headers(headers);
                let record = match payload {
                    Some(p) => record.payload(p),
                    None => record,
                };
                self.producer.send_result(record).map_err(|(e, _)| e)
            })
            .collect();
        let mut last = -1;
        let fail = |source| AppendError { partition, source };
        for sent in pending {
            let delivery = sent.map_err(fail)?;
            match delivery.await {
                Ok(Ok(delivered)) => last = delivered.offset,
                Ok(Err((e, _))) => return Err(fail(e)),
                Err(_) => return Err(fail(KafkaError::Canceled)),
            }
        }
        Ok(last)
    }

    /// Reads `partition` from after what `store` applied to the end it has now, applying each change set.
    /// Blocking: for a thread of its own.
    pub fn replay_into(&self, store: &Store, partition: i32) -> Result<Replayed, ReadError> {
        let ours = u16::try_from(partition).map_err(|_| ReadError::Corrupt {
            partition,
            reason: "partition out of range".into(),
        })?;
        let kafka = |source| ReadError::Kafka { partition, source };
        let consumer: BaseConsumer = client_config(&self.brokers, &self.properties)
            .set("group.id", "digit-user-replay")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(kafka)?;
        let (_, end) = consumer
            .fetch_watermarks(&self.topic, partition, self.timeout)
            .map_err(kafka)?;
        let applied = store.applied_offset(ours)?;
        if let Some(applied) = applied
            && applied >= end
        {
            return Err(ReadError::Behind {
                partition,
                end,
                applied,
            });
        }
        let from = applied.map_or(0, |a| a + 1);
        let mut replayed = Replayed::default();
        if from >= end {
            return Ok(replayed);
        }
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.topic, partition, Offset::Offset(from))
            .map_err(kafka)?;
        consumer.assign(&assignment).map_err(kafka)?;
        let mut replay = Replay::default();
        let mut position = from;
        while position < end {
            let message = match consumer.poll(self.timeout) {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(kafka(e)),
                None => {
                    return Err(kafka(KafkaError::MessageConsumption(
                        rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                    )));
                }
            };
            position = message.offset() + 1;
            replayed.messages += 1;
            let record = decode(&message).ok_or_else(|| ReadError::Corrupt {
                partition,
                reason: format!(
                    "message at offset {} is not a journal record (headers, key, value marker)",
                    message.offset()
                ),
            })?;
            let done = replay
                .feed(message.offset(), &record)
                .map_err(|e| ReadError::Corrupt {
                    partition,
                    reason: e.to_string(),
                })?;
            for change in done {
                store.apply_journaled(ours, &change)?;
                replayed.change_sets += 1;
            }
        }
        replayed.unfinished = replay.finish().map(|u| u.ops);
        Ok(replayed)
    }
}

/// A consumed message as a journal record; `None` without a change-set header.
fn decode(message: &impl Message) -> Option<JournalMessage> {
    let headers = message.headers()?;
    let mut change_set = None;
    let mut end = false;
    for header in headers.iter() {
        match header.key {
            CHANGE_SET_HEADER => {
                change_set = header
                    .value
                    .and_then(|v| <[u8; 8]>::try_from(v).ok())
                    .map(u64::from_be_bytes)
            }
            END_HEADER => end = true,
            _ => {}
        }
    }
    let value = match message.payload() {
        None => None,
        Some([VALUE, stored @ ..]) => Some(stored.to_vec()),
        Some(_) => return None,
    };
    Some(JournalMessage {
        key: message.key()?.to_vec(),
        value,
        change_set: change_set?,
        end,
    })
}
