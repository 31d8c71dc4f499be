//! The replicated journal on Kafka: Kafka keeps the truth of the partitioned state, each pod's sled is a
//! view of the journal partitions it serves (README "Data and durability"). [`log`] is the topic as the
//! store's [`actors::store::JournalPort`]; [`revocations`] the topic every pod learns revocations from;
//! [`topics`] creates or checks the topics (`digit-user admin journal check`, and every start).

pub mod directory;
pub mod log;
mod port;
mod producer;
pub mod revocations;
pub mod tail;
pub mod topics;

use std::sync::Arc;
use std::time::Duration;

use actors::store::{JournalPort, Store, StoreError, StoreKeys};

use crate::config::Settings;
use log::JournalLog;
use topics::TopicSpec;

/// The journal topic of `settings` as the store's log, appends bounded by `journal.produce_timeout_ms`.
pub fn open_log(settings: &Settings) -> Result<Arc<JournalLog>, rdkafka::error::KafkaError> {
    Ok(Arc::new(JournalLog::new(
        &settings.kafka.brokers,
        &settings.kafka.properties,
        &settings.journal.topic,
        Duration::from_millis(settings.journal.produce_timeout_ms),
    )?))
}

/// Why the store of a command could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The journal's Kafka client.
    #[error("cannot build the journal's Kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The data dir.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store of `settings`' data dir, its writes going through the journal when `settings` turn it on —
/// what every command that writes opens, so a journaled data dir never holds a write its journal lacks.
pub fn open_store(settings: &Settings, keys: StoreKeys) -> Result<Store, OpenError> {
    let journal = match settings.journal_on() {
        true => Some(open_log(settings)? as Arc<dyn JournalPort>),
        false => None,
    };
    tracing::info!(
        cache_mib = settings.cache_bytes() >> 20,
        from_memory_limit = settings.storage.cache_mb == 0,
        "opening the store"
    );
    Ok(Store::open_journaled(
        &settings.store_options(),
        keys,
        journal,
    )?)
}

/// The journal's topics as `settings` want them: the state topic, one Kafka partition per partition of ours,
/// and three topics of one partition that every pod reads whole: the revocations, the members' announcements
/// and the directory of imported users' homes.
pub fn topic_specs(settings: &Settings) -> Vec<TopicSpec> {
    let spec = |name: &str, partitions: i32, lag: u64| TopicSpec {
        name: name.to_owned(),
        partitions,
        replication_factor: i32::from(settings.journal.replication_factor),
        min_insync_replicas: i32::from(settings.journal.min_insync_replicas),
        min_compaction_lag_ms: i64::try_from(lag).unwrap_or(i64::MAX),
    };
    vec![
        spec(
            &settings.journal.topic,
            i32::from(settings.cluster.partitions),
            settings.journal.min_compaction_lag_ms,
        ),
        // revocations are never fenced: each pod writes its own, and a stale one only revokes more
        spec(&settings.journal.revocations_topic, 1, 0),
        // an announcement is replaced by its pod's next one; claims order them, not compaction
        spec(&settings.journal.members_topic, 1, 0),
        // a home is written once per key (an import run again writes the same), read whole by every pod
        spec(&settings.journal.directory_topic, 1, 0),
    ]
}
