//! A compacted topic read whole by every pod — from its start at boot, then as it grows — on a thread of
//! its own: the revocations (`revocations.rs`) and the cluster's members (`crate::cluster::group`).
//! The reader knows when it has read to the end the topic had when it began (a pod is not ready before).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::kafka::client_config;

/// What the reader hands each record's key and value to (`None`: absent, or a tombstone).
type Learn = dyn Fn(Option<&[u8]>, Option<&[u8]>) + Send;

/// How long the reader waits for a record before it looks at its stop flag and its progress again.
const POLL: Duration = Duration::from_millis(100);
/// Pause after the brokers did not answer the reader.
const RETRY: Duration = Duration::from_secs(1);

/// The thread reading a topic into a pod; stopped when dropped.
pub struct TopicTail {
    stop: Arc<AtomicBool>,
    caught_up: watch::Receiver<bool>,
    thread: Option<JoinHandle<()>>,
}

impl TopicTail {
    /// Starts reading `topic` at `brokers` from its start, handing each record's key and value (`None`:
    /// a tombstone) to `learn`, on a thread named after `what`. The topic may not exist yet (the start
    /// creates it): the reader retries until it does.
    pub fn start(
        brokers: &str,
        properties: &BTreeMap<String, String>,
        topic: &str,
        what: &'static str,
        learn: impl Fn(Option<&[u8]>, Option<&[u8]>) + Send + 'static,
    ) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer = client_config(brokers, properties)
            // assigned, never subscribed: the group id is only librdkafka's requirement
            .set("group.id", format!("digit-user-{what}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // a record reaches every pod within a second: the broker holds a fetch 100 ms at most
            .set("fetch.wait.max.ms", "100")
            .create()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tell, caught_up) = watch::channel(false);
        let reader = Reader {
            consumer,
            topic: topic.to_owned(),
            what,
            stop: stop.clone(),
            tell,
            learn: Box::new(learn),
        };
        let thread = std::thread::Builder::new()
            .name(format!("{what}-reader"))
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
        wait_caught_up(self.caught_up.clone()).await;
    }

    /// Whether the reader has caught up, as a watch a thread can look at.
    pub fn caught_up_watch(&self) -> watch::Receiver<bool> {
        self.caught_up.clone()
    }

    /// [`caught_up`](Self::caught_up) as a future of its own.
    pub fn when_caught_up(&self) -> impl std::future::Future<Output = ()> + use<> {
        wait_caught_up(self.caught_up.clone())
    }
}

impl Drop for TopicTail {
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
    what: &'static str,
    stop: Arc<AtomicBool>,
    tell: watch::Sender<bool>,
    learn: Box<Learn>,
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
            // a poll that waited its whole time for nothing: what the broker had is read
            let mut idle = false;
            match self.consumer.poll(POLL) {
                Some(Ok(message)) => {
                    failing = false;
                    read.insert(message.partition(), message.offset() + 1);
                    (self.learn)(message.key(), message.payload());
                }
                Some(Err(e)) => {
                    if !failing {
                        tracing::warn!(error = %e, what = self.what, "reading the topic failed; retrying");
                    }
                    failing = true;
                    std::thread::sleep(RETRY);
                }
                None => idle = true,
            }
            // the ends are not enough alone: tansu reports a high watermark that may lag the records
            // its produce already acknowledged (1 after a batch of 3, measured)
            if !caught_up && idle && reached(&ends, &read) {
                caught_up = true;
                tracing::info!(what = self.what, "the topic read to its end");
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
                        Err(e) => tracing::warn!(error = %e, what = self.what, "assignment failed"),
                    }
                }
                Err(e) if !warned => {
                    warned = true;
                    tracing::warn!(error = %e, topic = %self.topic, "topic not readable yet; retrying");
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

async fn wait_caught_up(mut caught_up: watch::Receiver<bool>) {
    // an error means the reader stopped: nothing more will come
    let _ = caught_up.wait_for(|up| *up).await;
}

/// Whether every partition was read up to its end in `ends`, `read` holding the offset after the last
/// message read from each.
fn reached(ends: &[(i32, Option<i64>)], read: &HashMap<i32, i64>) -> bool {
    ends.iter().all(|(partition, end)| match end {
        None => true,
        Some(end) => read.get(partition).is_some_and(|at| at >= end),
    })
}
