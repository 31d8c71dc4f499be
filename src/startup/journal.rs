//! Start-up with the journal on: the log, its topics, and every served partition brought to the end of
//! its journal before the pod reports ready (README "Data and durability").

use std::sync::Arc;
use std::time::Duration;

use actors::metrics as m;
use actors::store::{JournalError, Store, StoreError};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::config::Settings;
use crate::journal::revocations::{RevocationReader, RevocationTopic};
use crate::journal::topic_specs;
use crate::journal::topics::{TopicError, ensure};
use crate::kafka::client_config;
use crate::service::sessions::{RevocationFeed, Sessions};

use super::StartError;

/// How long a failed attempt (brokers unreachable, a topic not as the journal needs it) waits before the
/// next.
const RETRY: Duration = Duration::from_secs(1);

/// Makes the topics ready, then brings each of `partitions` to the end of its journal. Retries what the
/// brokers did not answer until it succeeds; a partition whose journal lost what the data dir applied is
/// logged and left unserved (its writes answer 503). Progress goes to the log and to
/// `digit_user_journal_partitions`.
pub(super) async fn restore(settings: Arc<Settings>, store: Arc<Store>, partitions: Vec<u16>) {
    let gauge = |state: &'static str, n: usize| {
        metrics::gauge!(m::JOURNAL_PARTITIONS, "state" => state).set(n as f64);
    };
    gauge("total", partitions.len());
    gauge("restored", 0);
    gauge("unservable", 0);
    topics_ready(&settings).await;
    let started = std::time::Instant::now();
    let total = partitions.len();
    let (mut restored, mut unservable) = (0, 0);
    let mut pending = partitions;
    while !pending.is_empty() {
        let mut again = Vec::new();
        for partition in pending {
            match store.durable().restore(&[partition], |_, _| {}).await {
                Ok(()) => {
                    restored += 1;
                    gauge("restored", restored);
                    if restored % 16 == 0 || restored == total {
                        tracing::info!(restored, total, "journal: partitions restored");
                    }
                }
                Err(StoreError::Journal(JournalError::Unservable(why))) => {
                    unservable += 1;
                    gauge("unservable", unservable);
                    tracing::error!(partition, %why, "journal: partition not served; its writes answer 503");
                }
                Err(StoreError::Journal(JournalError::Fenced(_))) => {
                    unservable += 1;
                    gauge("unservable", unservable);
                    tracing::error!(
                        partition,
                        "journal: another pod claimed this partition while it was being restored; not served here"
                    );
                }
                Err(e) => {
                    tracing::warn!(partition, error = %e, "journal: restore failed; retrying");
                    again.push(partition);
                }
            }
        }
        if !again.is_empty() {
            tokio::time::sleep(RETRY).await;
        }
        pending = again;
    }
    // what the replay brought into the outbox, counted once (not per partition: a walk of the tree)
    store.outbox().recount();
    tracing::info!(
        restored,
        unservable,
        seconds = started.elapsed().as_secs_f64(),
        "journal: every served partition is at the journal's end"
    );
}

/// Every `every`, compares the end of each journal partition the store writes to with where it expects it
/// and settles those something else was written into ([`actors::store::fencing`]): a fenced writer's
/// records found and the keys they hid written again, another pod's claim noticed. Stops with the store.
pub(super) fn start_fence_checks(store: &Arc<Store>, every: Duration) {
    let store = Arc::downgrade(store);
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { break };
            match store.durable().check_ends().await {
                Ok(0) => {}
                Ok(partitions) => {
                    tracing::warn!(
                        partitions,
                        "journal: partitions written into by another writer settled again"
                    )
                }
                Err(e) => {
                    tracing::debug!(error = %e, "journal: fence check not finished; next time")
                }
            }
        }
    });
}

/// Creates or checks the journal's topics until the brokers answer and the topics are what the journal
/// needs.
async fn topics_ready(settings: &Settings) {
    let timeout = Duration::from_millis(settings.journal.admin_timeout_ms);
    loop {
        match topics(settings, timeout).await {
            Ok(()) => return,
            Err(e @ (TopicError::Mismatch { .. } | TopicError::CreateRefused { .. })) => {
                tracing::error!(error = %e, "journal: topic not usable; not ready until it is fixed");
                tokio::time::sleep(RETRY * 10).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "journal: brokers not answering; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

async fn topics(settings: &Settings, timeout: Duration) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&settings.kafka.brokers, &settings.kafka.properties)
            .create()
            .map_err(|source| TopicError::Admin {
                topic: settings.journal.topic.clone(),
                source,
            })?;
    for spec in topic_specs(settings) {
        ensure(&admin, &spec, timeout).await?;
    }
    Ok(())
}

/// Where revocations are published with the journal on: its revocations topic.
pub(super) fn revocation_feed(
    settings: &Settings,
) -> Result<Option<Arc<dyn RevocationFeed>>, StartError> {
    if !settings.journal_on() {
        return Ok(None);
    }
    let topic = RevocationTopic::new(
        &settings.kafka.brokers,
        &settings.kafka.properties,
        &settings.journal.revocations_topic,
        Duration::from_millis(settings.journal.produce_timeout_ms),
    )
    .map_err(|e| StartError::Journal(e.to_string()))?;
    Ok(Some(Arc::new(topic)))
}

/// With the journal on, the reader of its revocations topic into `sessions` (from the topic's start).
pub(super) fn revocation_reader(
    settings: &Settings,
    sessions: &Arc<Sessions>,
) -> Result<Option<Arc<RevocationReader>>, StartError> {
    if !settings.journal_on() {
        return Ok(None);
    }
    let sessions = Arc::downgrade(sessions);
    let reader = RevocationReader::start(
        &settings.kafka.brokers,
        &settings.kafka.properties,
        &settings.journal.revocations_topic,
        move |revoked| {
            if let Some(sessions) = sessions.upgrade() {
                sessions.learn(revoked);
            }
        },
    )
    .map_err(|e| StartError::Journal(e.to_string()))?;
    Ok(Some(Arc::new(reader)))
}
