//! The replicated journal on Kafka: Kafka keeps the truth of the partitioned state, each pod's sled is a
//! view of the journal partitions it serves (README "Data and durability"). It lands in steps; today: its
//! topics ([`topics`]), created or checked by `digit-user admin journal check`.

pub mod log;
pub mod topics;

use crate::config::Settings;
use topics::TopicSpec;

/// The journal's topics as `settings` want them: the state topic, one Kafka partition per partition of ours,
/// and the revocations topic, one partition that every pod reads whole.
pub fn topic_specs(settings: &Settings) -> [TopicSpec; 2] {
    let spec = |name: &str, partitions: i32| TopicSpec {
        name: name.to_owned(),
        partitions,
        replication_factor: i32::from(settings.journal.replication_factor),
        min_insync_replicas: i32::from(settings.journal.min_insync_replicas),
    };
    [
        spec(
            &settings.journal.topic,
            i32::from(settings.cluster.partitions),
        ),
        spec(&settings.journal.revocations_topic, 1),
    ]
}
