//! What a journaled pod needs in a test: the deployment's keys from outside, and the journal on a
//! one-broker tansu (replication 1) with 16 partitions.

use std::collections::HashMap;

use base64::Engine;

/// The environment of a pod whose journal is on the broker at `brokers`, keys included.
pub fn journaled_env(brokers: &str) -> HashMap<&'static str, String> {
    let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    HashMap::from([
        ("DIGIT_USER_SEALING_KEYS", format!("1:{}", b64(11))),
        ("DIGIT_USER_BLIND_INDEX_KEY", b64(12)),
        ("DIGIT_USER_TOKEN_KEY", b64(13)),
        ("DIGIT_USER_OTP_PEPPER", b64(14)),
        ("DIGIT_USER__KAFKA__BROKERS", brokers.to_owned()),
        ("DIGIT_USER__CLUSTER__PARTITIONS", "16".to_owned()),
        // a group member must be told its ordinal (a test cluster sets each pod's after this)
        ("DIGIT_USER__CLUSTER__ORDINAL", "0".to_owned()),
        // a restarted pod waits for the group to drop its killed run: the shortest session there is
        ("DIGIT_USER__CLUSTER__SESSION_TIMEOUT_MS", "6000".to_owned()),
        ("DIGIT_USER__JOURNAL__REPLICATION_FACTOR", "1".to_owned()),
        ("DIGIT_USER__JOURNAL__MIN_INSYNC_REPLICAS", "1".to_owned()),
    ])
}
