//! Publishes the audit feed ([`actors::store::AuditFeed`]) to a SIEM's Kafka topic (`audit.kafka_topic`):
//! a batch at a time, oldest first, each event as its JSON (`{"id", "user", "at", "actor"?, "kind", …}`, the
//! trail's fields — never a personal value, code, password or token) keyed by the user's uuid with its id in
//! a `message-id` header. An event leaves the queue once the broker acknowledged it; one the broker refused
//! stays and goes with a later batch (at least once: a consumer de-duplicates by id; a retried event may
//! arrive after a later one of the same user — `at` orders them). A batch that fails whole is retried after
//! a back-off doubling between `notify.backoff_min_ms` and `notify.backoff_max_ms`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use actors::metrics::{AUDIT_FEED_DEPTH, AUDIT_PUBLISHED};
use actors::sink::DeliveryError;
use actors::store::{Store, StoreError};

use crate::kafka::{FeedMessage, KafkaSink};

/// Where and how the feed goes.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// The topic.
    pub topic: String,
    /// Events per batch.
    pub batch: usize,
    /// Poll period when the queue is empty.
    pub poll: Duration,
    /// First back-off after a failed batch.
    pub backoff_min: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
}

/// Why a round published nothing.
#[derive(Debug, thiserror::Error)]
enum FeedError {
    /// The queue could not be read or updated.
    #[error("audit feed: {0}")]
    Store(#[from] StoreError),
    /// The broker refused every event of the batch (the first refusal).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

/// Publishes until the store is gone.
pub async fn run(store: Weak<Store>, kafka: Arc<KafkaSink>, settings: FeedSettings) {
    let mut backoff: Option<Duration> = None;
    loop {
        let Some(live) = store.upgrade() else { return };
        let outcome = round(&live, &kafka, &settings).await;
        drop(live);
        let wait = match outcome {
            Ok(0) => settings.poll,
            Ok(_) => Duration::ZERO,
            Err(e) => {
                let next =
                    backoff.map_or(settings.backoff_min, |b| (b * 2).min(settings.backoff_max));
                tracing::warn!(error = %e, topic = %settings.topic, retry_in_ms = next.as_millis() as u64, "audit events not published");
                backoff = Some(next);
                tokio::time::sleep(next).await;
                continue;
            }
        };
        backoff = None;
        tokio::time::sleep(wait).await;
    }
}

/// One batch; how many events were published.
async fn round(store: &Store, kafka: &KafkaSink, s: &FeedSettings) -> Result<usize, FeedError> {
    let feed = store.audit().feed();
    let batch = feed.batch(s.batch).await?;
    metrics::gauge!(AUDIT_FEED_DEPTH).set(feed.depth() as f64);
    if batch.is_empty() {
        return Ok(0);
    }
    let messages = batch
        .iter()
        .map(|p| {
            Ok(FeedMessage {
                key: p.entry.user.to_string(),
                id: p.entry.id.clone(),
                payload: serde_json::to_vec(&p.entry)?,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(StoreError::from)?;
    let results = kafka.publish(&s.topic, &messages).await;
    let (mut done, mut first_error) = (Vec::with_capacity(batch.len()), None);
    for (pending, result) in batch.into_iter().zip(results) {
        match result {
            Ok(()) => done.push(pending),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let (published, failed) = (done.len(), messages.len() - done.len());
    metrics::counter!(AUDIT_PUBLISHED, "result" => "published").increment(published as u64);
    if failed > 0 {
        metrics::counter!(AUDIT_PUBLISHED, "result" => "failed").increment(failed as u64);
    }
    feed.published(done).await?;
    match first_error {
        Some(e) if published == 0 => Err(e.into()),
        _ => Ok(published),
    }
}
