//! The `kafka` sink: the notifier's outbox records published with rdkafka's idempotent producer
//! (`enable.idempotence=true`, `acks=all`), the mobile number (or e-mail address) as the message key and the
//! record's id in a `message-id` header for consumer de-duplication. A record counts as delivered only when
//! the broker acknowledged it; until then it stays in the outbox. The notifier hands over at most one batch at
//! a time, which bounds what is in flight.
//!
//! Start-up does not wait for a broker. While none is reachable, deliveries fail after
//! `kafka.delivery_timeout_ms`, the notifier backs off, `_send` keeps accepting (the outbox is durable) up to
//! its depth limit, a gauge says the brokers are down and one log line says so — and one more when they are
//! back.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actors::domain::notification::Channel;
use actors::metrics::KAFKA_UP;
use actors::sink::{Batch, Delivery, DeliveryError, Sink};
use actors::store::OutboxRecord;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// Settings the service owns; `kafka.properties` may not override them.
pub const OWNED: [&str; 4] = [
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "message.timeout.ms",
];

/// A client configuration for `brokers` with the operator's `properties` (security, SASL, TLS) passed
/// through: what every Kafka client of the service starts from.
pub fn client_config(brokers: &str, properties: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "digit-user");
    config
}

/// Where records go.
#[derive(Debug, Clone)]
pub struct KafkaTopics {
    /// SMS topic.
    pub sms: String,
    /// E-mail topic.
    pub email: String,
    /// The topic of SMS that carry no code.
    pub notice: String,
    /// Central instance: the tenant segment used as topic prefix.
    pub schema_index: Option<usize>,
}

impl KafkaTopics {
    /// The topic of `record`: its channel's, prefixed `<schema>-` on a central instance.
    pub fn of(&self, record: &OutboxRecord) -> String {
        let topic = match record.channel() {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::Notice => &self.notice,
        };
        let schema = self.schema_index.and_then(|i| {
            record
                .tenant
                .as_deref()
                .and_then(|t| t.split('.').nth(i))
                .filter(|s| !s.is_empty())
        });
        match schema {
            Some(schema) => format!("{schema}-{topic}"),
            None => topic.clone(),
        }
    }
}

/// Why the producer could not be built.
#[derive(Debug, thiserror::Error)]
#[error("kafka producer: {0}")]
pub struct KafkaSetupError(String);

/// Broker reachability as a gauge and one log line per change.
pub struct Reachability {
    /// 0 unknown, 1 up, 2 down.
    state: AtomicU8,
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

impl Reachability {
    fn set(&self, up: bool) {
        let new = if up { UP } else { DOWN };
        let old = self.state.swap(new, Ordering::SeqCst);
        metrics::gauge!(KAFKA_UP).set(if up { 1.0 } else { 0.0 });
        match (old, new) {
            (DOWN, UP) => {
                tracing::info!("kafka brokers reachable again; queued notifications are going out")
            }
            (UP | UNKNOWN, DOWN) => tracing::warn!(
                "kafka brokers unreachable; notifications wait in the outbox and go out when a broker answers"
            ),
            _ => {}
        }
    }
}

/// The producer's client context: reports "all brokers down" to the [`Reachability`].
pub struct BrokerWatch(Arc<Reachability>);

impl ClientContext for BrokerWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.0.set(false);
        } else {
            tracing::debug!(error = %error, reason, "kafka client error");
        }
    }
}

/// The sink.
pub struct KafkaSink {
    producer: RwLock<Arc<FutureProducer<BrokerWatch>>>,
    config: ClientConfig,
    topics: KafkaTopics,
    reachability: Arc<Reachability>,
}

impl KafkaSink {
    /// A producer for `brokers` with `properties` passed through; connects lazily.
    pub fn new(
        brokers: &str,
        topics: KafkaTopics,
        delivery_timeout: Duration,
        properties: &BTreeMap<String, String>,
    ) -> Result<Self, KafkaSetupError> {
        if let Some(owned) = properties.keys().find(|k| OWNED.contains(&k.as_str())) {
            return Err(KafkaSetupError(format!(
                "kafka.properties may not set `{owned}`: the service sets it (use kafka.brokers / kafka.delivery_timeout_ms)"
            )));
        }
        let mut config = client_config(brokers, properties);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            );
        let reachability = Arc::new(Reachability {
            state: AtomicU8::new(UNKNOWN),
        });
        let producer = Self::producer(&config, &reachability)?;
        Ok(Self {
            producer: RwLock::new(producer),
            config,
            topics,
            reachability,
        })
    }

    fn producer(
        config: &ClientConfig,
        reachability: &Arc<Reachability>,
    ) -> Result<Arc<FutureProducer<BrokerWatch>>, KafkaSetupError> {
        config
            .create_with_context(BrokerWatch(reachability.clone()))
            .map(Arc::new)
            .map_err(|e| KafkaSetupError(e.to_string()))
    }

    fn current(&self) -> Arc<FutureProducer<BrokerWatch>> {
        self.producer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After a batch that failed whole with nothing left in flight, a fresh producer (a new producer id)
    /// takes over. An idempotent producer whose messages timed out must re-establish its id with the
    /// cluster; against a broker that lost its state during the outage the old one was seen to stall
    /// forever. The outbox holds every record, so nothing is lost by starting over.
    fn renew(&self, failed: &FutureProducer<BrokerWatch>) {
        if failed.in_flight_count() > 0 {
            return;
        }
        match Self::producer(&self.config, &self.reachability) {
            Ok(fresh) => {
                *self
                    .producer
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka: a fresh producer could not be built; keeping the old one")
            }
        }
    }

    /// Hands one message to librdkafka: `payload` keyed by `key` on `topic`, `id` in its `message-id` header.
    fn produce(
        producer: &FutureProducer<BrokerWatch>,
        topic: &str,
        key: &str,
        id: &str,
        payload: &[u8],
    ) -> Result<rdkafka::producer::DeliveryFuture, DeliveryError> {
        let headers = OwnedHeaders::new().insert(Header {
            key: "message-id",
            value: Some(id.as_bytes()),
        });
        let message = FutureRecord::to(topic)
            .key(key.as_bytes())
            .payload(payload)
            .headers(headers);
        producer
            .send_result(message)
            .map_err(|(e, _)| DeliveryError::new(e))
    }

    /// Waits for the broker's answer to each of `sent` (in order), timing them under `channel`; a batch
    /// that failed whole marks the brokers down and renews the producer.
    async fn settle(
        &self,
        producer: &FutureProducer<BrokerWatch>,
        sent: Vec<Result<rdkafka::producer::DeliveryFuture, DeliveryError>>,
        channel: impl Fn(usize) -> &'static str,
    ) -> Vec<Delivery> {
        let started = std::time::Instant::now();
        let mut results = Vec::with_capacity(sent.len());
        for (i, sent) in sent.into_iter().enumerate() {
            results.push(match sent {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(_)) => {
                        metrics::histogram!(crate::observability::KAFKA_PRODUCE_SECONDS, "channel" => channel(i))
                            .record(started.elapsed().as_secs_f64());
                        Ok(())
                    }
                    Ok(Err((e, _))) => Err(DeliveryError::new(e)),
                    Err(_) => Err(DeliveryError::msg("the kafka producer was dropped")),
                },
                Err(e) => Err(e),
            });
        }
        if results.iter().any(Result::is_ok) {
            self.reachability.set(true);
        } else if !results.is_empty() {
            self.reachability.set(false);
            self.renew(producer);
        }
        results
    }

    /// Publishes `messages` to `topic` (the audit feed: channel `audit`); one result per message.
    pub async fn publish(&self, topic: &str, messages: &[FeedMessage]) -> Vec<Delivery> {
        let producer = self.current();
        let sent = messages
            .iter()
            .map(|m| Self::produce(&producer, topic, &m.key, &m.id, &m.payload))
            .collect();
        self.settle(&producer, sent, |_| "audit").await
    }
}

/// A message of a feed that is not a notification (the audit trail's).
#[derive(Debug, Clone)]
pub struct FeedMessage {
    /// The message key (the user's uuid: one user's events stay in order).
    pub key: String,
    /// Its id, in the `message-id` header.
    pub id: String,
    /// The JSON.
    pub payload: Vec<u8>,
}

impl Sink for KafkaSink {
    fn deliver<'a>(
        &'a self,
        batch: Batch<'a>,
    ) -> Pin<Box<dyn Future<Output = Vec<Delivery>> + 'a>> {
        // every record of the batch is handed to librdkafka first, so they travel together
        let producer = self.current();
        let sent = batch
            .records
            .iter()
            .map(|r| {
                let payload =
                    serde_json::to_vec(&r.notification.to_digit_json(batch.sms_expiry_time))
                        .map_err(DeliveryError::new)?;
                Self::produce(
                    &producer,
                    &self.topics.of(r),
                    r.notification.key(),
                    &r.message_id,
                    &payload,
                )
            })
            .collect();
        Box::pin(async move {
            self.settle(&producer, sent, |i| batch.records[i].channel().as_str())
                .await
        })
    }

    fn name(&self) -> &'static str {
        "kafka"
    }

    fn flush(&self, within: Duration) {
        if let Err(e) = self.current().flush(within) {
            tracing::warn!(error = %e, "kafka: in-flight notifications not flushed at shutdown; they stay in the outbox");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::domain::notification::Notification;

    fn record(channel: Channel, tenant: Option<&str>) -> OutboxRecord {
        let notification = match channel {
            Channel::Sms => Notification::Sms {
                mobile: "9876543210".into(),
                message: "m".into(),
                country_code: None,
            },
            Channel::Email => Notification::Email {
                to: "asha@example.org".into(),
                subject: "s".into(),
                body: "b".into(),
            },
            Channel::Notice => Notification::Notice {
                mobile: "9876543210".into(),
                message: "m".into(),
            },
        };
        OutboxRecord {
            message_id: "m".into(),
            notification,
            created_ms: 0,
            expires_ms: None,
            attempts: 0,
            last_error: None,
            tenant: tenant.map(str::to_owned),
            labels: None,
        }
    }

    #[test]
    fn topics_per_channel_with_the_central_instance_prefix() {
        let plain = KafkaTopics {
            sms: "egov.core.notification.sms.otp".into(),
            email: "egov.core.notification.email".into(),
            notice: "egov.core.notification.sms".into(),
            schema_index: None,
        };
        assert_eq!(
            plain.of(&record(Channel::Sms, Some("pb.amritsar"))),
            "egov.core.notification.sms.otp"
        );
        assert_eq!(
            plain.of(&record(Channel::Email, None)),
            "egov.core.notification.email"
        );
        assert_eq!(
            plain.of(&record(Channel::Notice, None)),
            "egov.core.notification.sms"
        );
        let central = KafkaTopics {
            schema_index: Some(1),
            ..plain
        };
        assert_eq!(
            central.of(&record(Channel::Sms, Some("in.statea.citya"))),
            "statea-egov.core.notification.sms.otp"
        );
        assert_eq!(
            central.of(&record(Channel::Sms, Some("pb"))),
            "egov.core.notification.sms.otp",
            "no such segment: no prefix"
        );
    }

    #[test]
    fn owned_settings_cannot_be_overridden() {
        let topics = KafkaTopics {
            sms: "s".into(),
            email: "e".into(),
            notice: "n".into(),
            schema_index: None,
        };
        let props = BTreeMap::from([("acks".to_owned(), "1".to_owned())]);
        let err = KafkaSink::new(
            "127.0.0.1:1",
            topics.clone(),
            Duration::from_secs(5),
            &props,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("`acks`"), "{err}");
        let props = BTreeMap::from([("not.a.librdkafka.setting".to_owned(), "x".to_owned())]);
        assert!(KafkaSink::new("127.0.0.1:1", topics, Duration::from_secs(5), &props).is_err());
    }
}
