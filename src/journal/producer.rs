//! The journal's producers: idempotent, `acks=all`, each send bounded by a timeout — and replaced when a
//! failure left them fatally broken. An idempotent producer whose message timed out (a broker that did
//! not answer) asks the brokers to bump its epoch; a broker that cannot (tansu) fences it or makes that a
//! fatal error, after which the producer takes no message ever again. Every topic's writer renews its own.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::kafka::client_config;

/// The configuration of the journal's producers: idempotent, `acks=all`, a send failing after `timeout`.
pub(super) fn producer_config(
    brokers: &str,
    properties: &BTreeMap<String, String>,
    timeout: Duration,
) -> ClientConfig {
    let mut config = client_config(brokers, properties);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        // a send is small and waited for: Nagle's algorithm would hold it for the previous ack
        .set("socket.nagle.disable", "true")
        .set("message.timeout.ms", timeout.as_millis().to_string());
    config
}

/// A producer that is renewed after a fatal error.
pub(super) struct RenewingProducer {
    config: ClientConfig,
    current: RwLock<Arc<Retiring>>,
}

impl RenewingProducer {
    /// A producer made from `config` (and made again from it after a fatal error).
    pub(super) fn new(config: ClientConfig) -> Result<Self, KafkaError> {
        let producer = config.create()?;
        Ok(Self {
            config,
            current: RwLock::new(Arc::new(Retiring(Some(producer)))),
        })
    }

    /// The producer in use.
    pub(super) fn current(&self) -> Arc<Retiring> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces `used` — the producer a send that failed with `error` went through — when it has a
    /// fatal error or the brokers no longer take its producer id (fenced, an epoch they do not know), and
    /// it is still the one in use; whether the producer in use is now another one.
    pub(super) fn renew_after(&self, used: &Arc<Retiring>, error: &KafkaError) -> bool {
        if used.client().fatal_error().is_none() && !identity_lost(error) {
            return false;
        }
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&current, used) {
            return true; // renewed by another sender already
        }
        match self.config.create() {
            Ok(fresh) => {
                tracing::warn!(error = %error, "a Kafka producer can send no more; replaced");
                *current = Arc::new(Retiring(Some(fresh)));
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "a Kafka producer can send no more and could not be replaced yet");
                false
            }
        }
    }
}

/// A writer of one topic of records read whole by every pod (the revocations, the directory): its renewing
/// producer and the topic's name.
pub(super) struct TopicWriter {
    producer: RenewingProducer,
    topic: String,
}

impl TopicWriter {
    /// A writer to `topic` at `brokers`; a send not acknowledged within `timeout` fails.
    pub(super) fn new(
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

    /// Sends `records` to the topic and waits for every one ([`RenewingProducer::send_all`]).
    pub(super) async fn send_all(
        &self,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), KafkaError> {
        self.producer.send_all(&self.topic, records).await
    }
}

impl RenewingProducer {
    /// Sends `records` (key, value — `None`: a tombstone) to `topic` and waits for every one. A producer
    /// the brokers no longer take is replaced and the records sent once more through the new one (a record
    /// of a compacted topic sent twice is the same record twice).
    pub(super) async fn send_all(
        &self,
        topic: &str,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), KafkaError> {
        let mut renewed = false;
        loop {
            let producer = self.current();
            match send_with(&producer, topic, records).await {
                Err(e) if !renewed && self.renew_after(&producer, &e) => renewed = true,
                other => return other,
            }
        }
    }
}

async fn send_with(
    producer: &FutureProducer,
    topic: &str,
    records: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<(), KafkaError> {
    let mut deliveries = Vec::with_capacity(records.len());
    for (key, value) in records {
        let record = FutureRecord::<[u8], [u8]>::to(topic).key(key.as_slice());
        let record = match value {
            Some(value) => record.payload(value.as_slice()),
            None => record,
        };
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    for delivery in futures_util::future::join_all(deliveries).await {
        match delivery {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e),
            Err(_) => return Err(KafkaError::Canceled),
        }
    }
    Ok(())
}

/// Whether `error` says the brokers no longer take the producer's id: after a timeout an idempotent
/// producer asks for its epoch to be bumped, and a broker that cannot do that fences it. (An unknown
/// producer id or a sequence gap librdkafka recovers from by itself.)
fn identity_lost(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(Code::ProducerFenced | Code::InvalidProducerEpoch | Code::Fatal)
    )
}

/// A producer that is destroyed on a thread of its own: librdkafka's destroy waits for its threads, which
/// wait for a broker that does not answer — up to a minute, which must never be a request's thread.
pub(super) struct Retiring(Option<FutureProducer>);

impl std::ops::Deref for Retiring {
    type Target = FutureProducer;

    fn deref(&self) -> &FutureProducer {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for Retiring {
    fn drop(&mut self) {
        if let Some(producer) = self.0.take() {
            let _ = std::thread::Builder::new()
                .name("journal-producer-retire".into())
                .spawn(move || drop(producer));
        }
    }
}
