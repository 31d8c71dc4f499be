//! `admin journal check`: the journal's topics created, or checked, on the brokers of `kafka.brokers`.

use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::config::Settings;
use crate::journal::topic_specs;
use crate::journal::topics::{TopicState, ensure};
use crate::kafka::client_config;

/// Creates or checks each journal topic; one line per topic, or the first refusal.
pub fn check(settings: &Settings) -> anyhow::Result<String> {
    if settings.kafka.brokers.trim().is_empty() {
        bail!("kafka.brokers is not set: the journal lives on Kafka");
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(&settings.kafka.brokers, &settings.kafka.properties)
            .create()
            .context("building the Kafka admin client")?;
    let timeout = Duration::from_millis(settings.journal.admin_timeout_ms);
    actix_web::rt::System::new().block_on(async {
        let mut lines = Vec::new();
        for spec in topic_specs(settings) {
            let state = ensure(&admin, &spec, timeout).await?;
            let verb = match state {
                TopicState::Created => "created",
                TopicState::Valid => "valid",
            };
            lines.push(format!(
                "{}: {verb} ({} partitions, compacted, replication factor ≥ {}, min.insync.replicas ≥ {})",
                spec.name, spec.partitions, spec.replication_factor, spec.min_insync_replicas
            ));
        }
        Ok(lines.join("\n"))
    })
}
