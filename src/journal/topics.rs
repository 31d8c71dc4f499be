//! The journal's topics, created or checked through the Kafka admin API.
//!
//! A topic that exists must be what the journal needs: as many partitions as the deployment has
//! (`cluster.partitions` — a record's Kafka partition *is* its partition of ours, so a different count would
//! put records where no pod looks for them), `cleanup.policy` with `compact` (each key's latest value is
//! kept forever, older ones go), and at least the configured replication factor and `min.insync.replicas`.
//! Nothing is ever altered: a mismatch is refused with what to do, because changing a journal's topic under
//! running pods loses or misplaces records.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;

/// What a journal topic must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic's name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Replicas of each partition, at least.
    pub replication_factor: i32,
    /// `min.insync.replicas`, at least.
    pub min_insync_replicas: i32,
    /// `min.compaction.lag.ms`, at least (0: none asked). A topic created with one also stamps its
    /// records with the broker's time (`message.timestamp.type=LogAppendTime`), so a writer's old clock
    /// cannot age a record past it. The fencing rule needs both (`actors::store::fencing`).
    pub min_compaction_lag_ms: i64,
}

/// What [`ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicState {
    /// The topic did not exist and was created to the spec.
    Created,
    /// The topic exists and meets the spec.
    Valid,
}

/// Why a topic was not made ready.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The brokers did not answer, or refused the request.
    #[error("{topic}: the Kafka admin request failed: {source}")]
    Admin {
        /// The topic.
        topic: String,
        /// rdkafka's reason.
        source: KafkaError,
    },
    /// The broker refused to create the topic.
    #[error("{topic}: the broker refused to create it: {code}")]
    CreateRefused {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// The topic exists but is not what the journal needs.
    #[error("{topic}: {problem}")]
    Mismatch {
        /// The topic.
        topic: String,
        /// What differs and what to do.
        problem: String,
    },
}

/// A topic as the brokers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Described {
    partitions: i32,
    replication_factor: i32,
    cleanup_policy: String,
    min_insync_replicas: i32,
    /// `None` when the broker does not describe it.
    min_compaction_lag_ms: Option<i64>,
}

/// Creates `spec`'s topic when it does not exist, else checks that it meets the spec.
pub async fn ensure(
    admin: &AdminClient<DefaultClientContext>,
    spec: &TopicSpec,
    timeout: Duration,
) -> Result<TopicState, TopicError> {
    let admin_err = |source| TopicError::Admin {
        topic: spec.name.clone(),
        source,
    };
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    if describe(admin, &spec.name, &options, timeout)
        .await
        .map_err(admin_err)?
        .is_none()
    {
        let min_insync = spec.min_insync_replicas.to_string();
        let lag = spec.min_compaction_lag_ms.to_string();
        let mut topic = NewTopic::new(
            &spec.name,
            spec.partitions,
            TopicReplication::Fixed(spec.replication_factor),
        )
        .set("cleanup.policy", "compact")
        .set("min.insync.replicas", &min_insync);
        if spec.min_compaction_lag_ms > 0 {
            topic = topic
                .set("min.compaction.lag.ms", &lag)
                .set("message.timestamp.type", "LogAppendTime");
        }
        let created = admin
            .create_topics([&topic], &options)
            .await
            .map_err(admin_err)?;
        match created.into_iter().next() {
            Some(Ok(_)) => return Ok(TopicState::Created),
            // another admin created it meanwhile: check that one
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {}
            Some(Err((_, code))) => {
                return Err(TopicError::CreateRefused {
                    topic: spec.name.clone(),
                    code,
                });
            }
            None => {
                return Err(admin_err(KafkaError::AdminOpCreation(
                    "no result for the topic".into(),
                )));
            }
        }
    }
    let found = describe(admin, &spec.name, &options, timeout)
        .await
        .map_err(admin_err)?
        .ok_or_else(|| TopicError::Mismatch {
            topic: spec.name.clone(),
            problem: "the broker said it exists but does not describe it; try again".into(),
        })?;
    match mismatch(spec, &found) {
        None => Ok(TopicState::Valid),
        Some(problem) => Err(TopicError::Mismatch {
            topic: spec.name.clone(),
            problem,
        }),
    }
}

/// The topic's partitions, replication and configuration; `None` when it does not exist.
async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    options: &AdminOptions,
    timeout: Duration,
) -> Result<Option<Described>, KafkaError> {
    let metadata = admin.inner().fetch_metadata(Some(name), timeout)?;
    let Some(topic) = metadata.topics().iter().find(|t| t.name() == name) else {
        return Ok(None);
    };
    match topic.error() {
        None => {}
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => return Ok(None),
        Some(e) => return Err(KafkaError::MetadataFetch(RDKafkaErrorCode::from(e))),
    }
    if topic.partitions().is_empty() {
        return Ok(None);
    }
    let replication_factor = topic
        .partitions()
        .iter()
        .map(|p| p.replicas().len() as i32)
        .min()
        .unwrap_or(0);
    let configs = admin
        .describe_configs([&ResourceSpecifier::Topic(name)], options)
        .await?;
    let entries = match configs.into_iter().next() {
        Some(Ok(resource)) => resource.entries,
        Some(Err(code)) => return Err(KafkaError::AdminOp(code)),
        None => Vec::new(),
    };
    let value = |key: &str| {
        entries
            .iter()
            .find(|e| e.name == key)
            .and_then(|e| e.value.clone())
    };
    Ok(Some(Described {
        partitions: topic.partitions().len() as i32,
        replication_factor,
        // Kafka's defaults when the topic does not set them
        cleanup_policy: value("cleanup.policy").unwrap_or_else(|| "delete".into()),
        min_insync_replicas: value("min.insync.replicas")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        min_compaction_lag_ms: value("min.compaction.lag.ms").and_then(|v| v.parse().ok()),
    }))
}

/// What keeps `found` from serving as `spec`'s topic, and what to do about it.
fn mismatch(spec: &TopicSpec, found: &Described) -> Option<String> {
    if found.partitions != spec.partitions {
        return Some(format!(
            "has {} partitions, this deployment has {} (cluster.partitions); a journal's partition count never \
             changes: point journal.topic / journal.revocations_topic at a new topic (this command creates it) \
             or set cluster.partitions to what the data was written with",
            found.partitions, spec.partitions
        ));
    }
    let policies: Vec<&str> = found.cleanup_policy.split(',').map(str::trim).collect();
    if !policies.contains(&"compact") || policies.contains(&"delete") {
        return Some(format!(
            "cleanup.policy is \"{}\", the journal needs \"compact\" alone (deletion by age would lose users): \
             kafka-configs.sh --alter --entity-type topics --entity-name {} --add-config cleanup.policy=compact",
            found.cleanup_policy, spec.name
        ));
    }
    if found.replication_factor < spec.replication_factor {
        return Some(format!(
            "has {} replica(s) per partition, journal.replication_factor asks for {}: add replicas with \
             kafka-reassign-partitions.sh, or lower journal.replication_factor knowingly",
            found.replication_factor, spec.replication_factor
        ));
    }
    if found.min_insync_replicas < spec.min_insync_replicas {
        return Some(format!(
            "min.insync.replicas is {}, journal.min_insync_replicas asks for {}: \
             kafka-configs.sh --alter --entity-type topics --entity-name {} --add-config min.insync.replicas={}",
            found.min_insync_replicas,
            spec.min_insync_replicas,
            spec.name,
            spec.min_insync_replicas
        ));
    }
    if let Some(lag) = found.min_compaction_lag_ms
        && lag < spec.min_compaction_lag_ms
    {
        return Some(format!(
            "min.compaction.lag.ms is {lag}, journal.min_compaction_lag_ms asks for {} (compaction must not \
             reach a record before the owner's fence check could repair what a fenced writer hid): \
             kafka-configs.sh --alter --entity-type topics --entity-name {} --add-config \
             min.compaction.lag.ms={},message.timestamp.type=LogAppendTime",
            spec.min_compaction_lag_ms, spec.name, spec.min_compaction_lag_ms
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TopicSpec {
        TopicSpec {
            name: "j".into(),
            partitions: 16,
            replication_factor: 3,
            min_insync_replicas: 2,
            min_compaction_lag_ms: 3_600_000,
        }
    }

    fn good() -> Described {
        Described {
            partitions: 16,
            replication_factor: 3,
            cleanup_policy: "compact".into(),
            min_insync_replicas: 2,
            min_compaction_lag_ms: Some(3_600_000),
        }
    }

    #[test]
    fn a_topic_meets_the_spec_or_says_what_differs() {
        assert_eq!(mismatch(&spec(), &good()), None);
        let more = Described {
            replication_factor: 5,
            min_insync_replicas: 3,
            ..good()
        };
        assert_eq!(mismatch(&spec(), &more), None, "more than asked is fine");
        let undescribed = Described {
            min_compaction_lag_ms: None,
            ..good()
        };
        assert_eq!(
            mismatch(&spec(), &undescribed),
            None,
            "a broker that does not describe the lag is taken at its word"
        );
        for (found, says) in [
            (
                Described {
                    partitions: 8,
                    ..good()
                },
                "has 8 partitions",
            ),
            (
                Described {
                    cleanup_policy: "delete".into(),
                    ..good()
                },
                "cleanup.policy is \"delete\"",
            ),
            (
                Described {
                    cleanup_policy: "compact,delete".into(),
                    ..good()
                },
                "cleanup.policy is \"compact,delete\"",
            ),
            (
                Described {
                    replication_factor: 1,
                    ..good()
                },
                "has 1 replica(s)",
            ),
            (
                Described {
                    min_insync_replicas: 1,
                    ..good()
                },
                "min.insync.replicas is 1",
            ),
            (
                Described {
                    min_compaction_lag_ms: Some(0),
                    ..good()
                },
                "min.compaction.lag.ms is 0",
            ),
        ] {
            let problem = mismatch(&spec(), &found).expect("a mismatch");
            assert!(problem.contains(says), "{problem}");
        }
    }
}
