//! The journal topic as a log: change sets appended to a partition, and a partition read back from an
//! offset to its end and replayed into the store.
//!
//! Appends use an idempotent producer (`acks=all`, `enable.gapless.guarantee`): messages of one partition
//! land in order, never twice, and when one fails none after it lands — so a change set that failed midway
//! left a prefix, which replay recognises ([`actors::store::journal`]). A failed or timed-out append has an
//! *unknown* outcome: the caller must not take another write for the partition until it read the
//! partition to its end again — the store's [`actors::store::Durable`] does, through [`JournalPort`], which
//! this log implements.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::store::fencing::claim_message;
use actors::store::journal::{
    CHANGE_SET_HEADER, END_HEADER, GENERATION_HEADER, JournalMessage, UNDOES_HEADER, encode,
};
use actors::store::{Landed, Op, StoreError};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::producer::{RenewingProducer, producer_config};
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
    /// The journal no longer starts where this store needs it to (records deleted by retention).
    #[error(
        "journal partition {partition} starts at offset {start} but this store needs it from {from}: records \
         were deleted (cleanup.policy must be compact only — digit-user admin journal check)"
    )]
    Truncated {
        /// The partition.
        partition: i32,
        /// The journal's first offset.
        start: i64,
        /// The offset this store needs next.
        from: i64,
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

/// A consumer that reads partitions to their end.
type Reader = BaseConsumer<QuietEnd>;

/// The readers' context: the end of a partition, which every read waits for, is no error to log.
struct QuietEnd;

impl ClientContext for QuietEnd {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::error!(%error, reason, "journal reader: librdkafka error");
        }
    }
}

impl ConsumerContext for QuietEnd {}

/// The journal topic of one deployment.
pub struct JournalLog {
    /// Until when appends fail at once (the last one failed).
    pub(super) down_until: Mutex<Option<std::time::Instant>>,
    /// Consumers between reads, kept with their connections.
    readers: Mutex<Vec<Reader>>,
    /// Renewed after a fatal error (with the gapless guarantee a timed-out message is one).
    producer: RenewingProducer,
    /// One append at a time per partition: two change sets' messages never interleave.
    appending: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<()>>>>,
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
        let producer = RenewingProducer::new(
            producer_config(brokers, properties, timeout)
                .set("enable.gapless.guarantee", "true")
                .clone(),
        )?;
        Ok(Self {
            down_until: Mutex::new(None),
            readers: Mutex::default(),
            producer,
            appending: Mutex::default(),
            brokers: brokers.to_owned(),
            properties: properties.clone(),
            topic: topic.to_owned(),
            timeout,
        })
    }

    /// Appends the ops of change set `change_set` — the undo of `undoes`, if given — to `partition`,
    /// written under the claim of `generation`; where its messages landed once every one is acknowledged.
    pub async fn append(
        &self,
        partition: i32,
        generation: u64,
        change_set: u64,
        undoes: Option<u64>,
        ops: &[Op],
    ) -> Result<Landed, AppendError> {
        let turn = self.turn(partition);
        let _turn = turn.lock().await;
        let producer = self.producer.current();
        let messages = encode(generation, change_set, undoes, ops);
        let result = self.send(&producer, partition, &messages).await;
        if let Err(e) = &result {
            self.producer.renew_after(&producer, &e.source);
        }
        result
    }

    /// The lock that lets one append at a time into `partition`.
    fn turn(&self, partition: i32) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.appending.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(partition).or_default().clone()
    }

    /// Appends a claim ([`actors::store::fencing`]) to `partition` and waits for its ack; its offset. Once
    /// it is in the log, so is everything this producer sent before it. A producer that an earlier failure
    /// left fenced or fatally broken is replaced and the claim tried once more with the new one.
    pub async fn claim(&self, partition: i32) -> Result<i64, AppendError> {
        let turn = self.turn(partition);
        let _turn = turn.lock().await;
        let claim = [claim_message()];
        let producer = self.producer.current();
        let first = self.send(&producer, partition, &claim).await;
        let result = match first {
            Err(e) if self.producer.renew_after(&producer, &e.source) => {
                let renewed = self.producer.current();
                let again = self.send(&renewed, partition, &claim).await;
                if let Err(e) = &again {
                    self.producer.renew_after(&renewed, &e.source);
                }
                again
            }
            other => other,
        };
        result.map(|landed| landed.last)
    }

    /// Sends `messages` to `partition` in order; where they landed once all are acknowledged.
    async fn send(
        &self,
        producer: &FutureProducer,
        partition: i32,
        messages: &[JournalMessage],
    ) -> Result<Landed, AppendError> {
        let fail = |source| AppendError { partition, source };
        // a stored value travels behind one marker byte: an empty value (an index entry) must not read as
        // a tombstone, which a null payload is
        let payloads: Vec<Option<Vec<u8>>> = messages
            .iter()
            .map(|m| m.value.as_ref().map(|v| [&[VALUE][..], v].concat()))
            .collect();
        // handed over in order; the first that librdkafka refuses stops the rest, so what may land is a
        // prefix of the change set, never a set with a hole
        let mut pending = Vec::with_capacity(messages.len());
        for (m, payload) in messages.iter().zip(&payloads) {
            let id = m.change_set.to_be_bytes();
            let generation = m.generation.to_be_bytes();
            let mut headers = OwnedHeaders::new()
                .insert(Header {
                    key: CHANGE_SET_HEADER,
                    value: Some(&id[..]),
                })
                .insert(Header {
                    key: GENERATION_HEADER,
                    value: Some(&generation[..]),
                });
            let undone = m.undoes.map(u64::to_be_bytes);
            if let Some(undone) = &undone {
                headers = headers.insert(Header {
                    key: UNDOES_HEADER,
                    value: Some(&undone[..]),
                });
            }
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
            pending.push(producer.send_result(record).map_err(|(e, _)| fail(e))?);
        }
        let mut landed: Option<Landed> = None;
        for delivery in pending {
            match delivery.await {
                Ok(Ok(delivered)) => {
                    let first = landed.map_or(delivered.offset, |l| l.first);
                    landed = Some(Landed {
                        first,
                        last: delivered.offset,
                    });
                }
                Ok(Err((e, _))) => return Err(fail(e)),
                Err(_) => return Err(fail(KafkaError::Canceled)),
            }
        }
        landed.ok_or_else(|| fail(KafkaError::Canceled))
    }

    /// The offset the next message of `partition` will take: the end a fetch reports. Blocking: for a
    /// thread of its own.
    pub fn end(&self, partition: i32) -> Result<i64, ReadError> {
        self.with_reader(partition, |consumer| {
            let (start, listed) = self.listed(consumer, partition)?;
            let from = last_listed(start, listed);
            let end = self.read_to_end(consumer, partition, from, &mut |_| Ok(()))?;
            Ok(end)
        })
    }

    /// Reads `partition` from after offset `applied` (from its start when `None`) to the end it has now,
    /// handing each record to `each`; how many messages it read. Blocking: for a thread of its own.
    pub fn read(
        &self,
        partition: i32,
        applied: Option<i64>,
        each: &mut dyn FnMut(i64, &JournalMessage) -> Result<(), StoreError>,
    ) -> Result<u64, ReadError> {
        self.with_reader(partition, |consumer| {
            self.read_with(consumer, partition, applied, each)
        })
    }

    /// Runs `f` with a reader, kept for the next read unless `f` failed (a reader that failed may be
    /// stuck on a broker that did not answer).
    fn with_reader<T>(
        &self,
        partition: i32,
        f: impl FnOnce(&Reader) -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        let consumer = self
            .reader()
            .map_err(|source| ReadError::Kafka { partition, source })?;
        let result = f(&consumer);
        // no fetching between reads
        if result.is_ok() && consumer.unassign().is_ok() {
            self.readers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(consumer);
        }
        result
    }

    /// A consumer for reads: one left by an earlier read (its connections open), or a new one.
    fn reader(&self) -> Result<Reader, KafkaError> {
        if let Some(consumer) = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(consumer);
        }
        client_config(&self.brokers, &self.properties)
            .set("group.id", "digit-user-replay")
            .set("enable.auto.commit", "false")
            // the end of a read is where a fetch says the partition ends (a broker's ListOffsets may name
            // an older batch: tansu's does)
            .set("enable.partition.eof", "true")
            // a read wants what is there now: the broker need not wait for more
            .set("fetch.wait.max.ms", "10")
            // an offset the log no longer has is an error, never a silent jump to its end
            .set("auto.offset.reset", "error")
            .create_with_context(QuietEnd)
    }

    fn read_with(
        &self,
        consumer: &Reader,
        partition: i32,
        applied: Option<i64>,
        each: &mut dyn FnMut(i64, &JournalMessage) -> Result<(), StoreError>,
    ) -> Result<u64, ReadError> {
        let (start, listed) = self.listed(consumer, partition)?;
        let from = applied.map_or(0, |a| a + 1);
        if from < start {
            return Err(ReadError::Truncated {
                partition,
                start,
                from,
            });
        }
        // from where this store stands, or from the last message listed if that is before it (the
        // listed end may lag): the fetch's end decides whether the store is ahead of the journal
        let at = from.min(last_listed(start, listed));
        let mut messages = 0;
        let end = self.read_to_end(consumer, partition, at, &mut |message| {
            if message.offset() < from {
                return Ok(());
            }
            messages += 1;
            let record = decode(message).ok_or_else(|| ReadError::Corrupt {
                partition,
                reason: format!(
                    "message at offset {} is not a journal record (headers, key, value marker)",
                    message.offset()
                ),
            })?;
            Ok(each(message.offset(), &record)?)
        })?;
        if let Some(applied) = applied
            && applied >= end
        {
            return Err(ReadError::Behind {
                partition,
                end,
                applied,
            });
        }
        Ok(messages)
    }

    /// The first offset and the end of `partition` as the broker lists them.
    fn listed(&self, consumer: &Reader, partition: i32) -> Result<(i64, i64), ReadError> {
        consumer
            .fetch_watermarks(&self.topic, partition, self.timeout)
            .map_err(|source| ReadError::Kafka { partition, source })
    }

    /// Reads `partition` from offset `from` (at most its end) until a fetch reports its end, handing each
    /// message to `each`; the end.
    fn read_to_end(
        &self,
        consumer: &Reader,
        partition: i32,
        from: i64,
        each: &mut dyn FnMut(&BorrowedMessage<'_>) -> Result<(), ReadError>,
    ) -> Result<i64, ReadError> {
        let kafka = |source| ReadError::Kafka { partition, source };
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.topic, partition, Offset::Offset(from))
            .map_err(kafka)?;
        consumer.assign(&assignment).map_err(kafka)?;
        let mut next = from;
        loop {
            match consumer.poll(self.timeout) {
                // another partition's, or before `from`: fetched for an earlier read of this consumer
                Some(Ok(m)) if m.partition() != partition || m.offset() < next => {}
                Some(Ok(m)) => {
                    next = m.offset() + 1;
                    each(&m)?;
                }
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => break,
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(kafka(e)),
                None => {
                    return Err(kafka(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::OperationTimedOut,
                    )));
                }
            }
        }
        // the end a fetch reported is where the next fetch starts: after the last message read, or `from`
        Ok(next)
    }
}

/// Where a read for the end starts: the last message the broker lists (Kafka lists the end itself;
/// tansu the offset after the first message of the newest batch, and fetches only from a batch's first
/// message — so one before what it lists), or the start of an empty partition.
fn last_listed(start: i64, listed: i64) -> i64 {
    (listed - 1).max(start)
}

/// A consumed message as a journal record; `None` without a change-set header.
fn decode(message: &impl Message) -> Option<JournalMessage> {
    let headers = message.headers()?;
    let mut change_set = None;
    let mut undoes = None;
    let mut generation = 0;
    let mut end = false;
    let id = |value: Option<&[u8]>| {
        value
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map(u64::from_be_bytes)
    };
    for header in headers.iter() {
        match header.key {
            CHANGE_SET_HEADER => change_set = id(header.value),
            UNDOES_HEADER => undoes = id(header.value),
            GENERATION_HEADER => generation = id(header.value)?,
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
        undoes,
        generation,
    })
}
