//! Start-up with the journal on: the log and its topics, the revocations read, and the fence checks
//! (README "Data and durability"; the partitions themselves are taken over as the group assigns them).

use std::sync::Arc;
use std::time::Duration;

use actors::store::Store;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::config::Settings;
use crate::journal::directory::DirectoryTopic;
use crate::journal::revocations::{RevocationReader, RevocationTopic};
use crate::journal::topic_specs;
use crate::journal::topics::{TopicError, ensure};
use crate::kafka::client_config;
use crate::service::sessions::{RevocationFeed, Sessions};

use super::StartError;

/// How long a failed attempt (brokers unreachable, a topic not as the journal needs it) waits before the
/// next.
const RETRY: Duration = Duration::from_secs(1);

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

/// Creates or checks the journal's topics, retrying until the brokers answer and the topics are what the
/// journal needs. (The partitions are brought to their journal's end one by one as the group assigns them.)
pub(super) async fn topics_ready(settings: Arc<Settings>) {
    let timeout = Duration::from_millis(settings.journal.admin_timeout_ms);
    loop {
        match topics(&settings, timeout).await {
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

/// Where an import through this pod publishes imported users' homes with the journal on: the directory
/// topic.
pub(super) fn directory_publisher(
    settings: &Settings,
) -> Result<Option<DirectoryTopic>, StartError> {
    if !settings.journal_on() {
        return Ok(None);
    }
    DirectoryTopic::new(
        &settings.kafka.brokers,
        &settings.kafka.properties,
        &settings.journal.directory_topic,
        Duration::from_millis(settings.journal.produce_timeout_ms),
    )
    .map(Some)
    .map_err(|e| StartError::Journal(e.to_string()))
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
