//! This pod's announcements on the members topic: its address and the partitions it serves with their
//! claims ([`super::routes`]), sent after every takeover and handover and every few seconds besides (a
//! lost announcement heals by itself).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::routes::{Announcement, member_key};

/// The publisher of one pod's announcements.
pub struct Announcer {
    producer: FutureProducer,
    topic: String,
    ordinal: u16,
    address: String,
}

impl Announcer {
    /// A publisher for pod `ordinal`, reachable at `address`, to `topic`; an announcement not acknowledged
    /// within `timeout` fails.
    pub fn new(
        config: &ClientConfig,
        topic: &str,
        ordinal: u16,
        address: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let producer = config
            .clone()
            .set("acks", "all")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            ordinal,
            address: address.to_owned(),
        })
    }

    /// Says that this pod serves `serves` (partition → claim generation), now.
    pub async fn announce(
        &self,
        serves: BTreeMap<u16, u64>,
        now_ms: i64,
    ) -> Result<(), KafkaError> {
        let announcement = Announcement {
            ordinal: self.ordinal,
            address: self.address.clone(),
            serves,
            at_ms: now_ms,
        };
        let value = serde_json::to_vec(&announcement).map_err(|_| {
            KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::InvalidMessage)
        })?;
        let key = member_key(self.ordinal);
        let record = FutureRecord::to(&self.topic).key(&key[..]).payload(&value);
        match self.producer.send_result(record) {
            Err((e, _)) => Err(e),
            Ok(delivery) => match delivery.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(e),
                Err(_) => Err(KafkaError::Canceled),
            },
        }
    }
}
