//! The settings that involve Kafka: the sink, the journal's topics, the retired partition map, the audit feed.

use super::*;

#[test]
fn the_sink_follows_the_brokers_and_kafka_settings_are_checked() {
    let s = load(&[], &[], Overrides::default()).unwrap();
    assert_eq!(s.sink(), SinkKind::File, "no brokers: the embedded default");
    let s = load(
        &[],
        &[("KAFKA_CONFIG_BOOTSTRAP_SERVER_CONFIG", "k:9092")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(
        (s.sink(), s.kafka.brokers.as_str()),
        (SinkKind::Kafka, "k:9092"),
        "DIGIT's name"
    );
    let s = load(&[], &[("SMS_TOPIC", "pb-sms")], Overrides::default()).unwrap();
    assert_eq!(s.kafka.sms_topic, "pb-sms");
    let err = load(
        &[],
        &[("DIGIT_USER__NOTIFY__SINK", "kafka")],
        Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("kafka.brokers"), "{err}");
    let file =
        "[kafka]\nbrokers = \"k:9092\"\n[kafka.properties]\n\"enable.idempotence\" = \"false\"\n";
    let err = load(&[("custom.toml", file)], &[], Overrides::default()).unwrap_err();
    assert!(err.to_string().contains("`enable.idempotence`"), "{err}");
    let file = "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n";
    let s = load(&[("custom.toml", file)], &[], Overrides::default()).unwrap();
    assert_eq!(s.kafka.properties["security.protocol"], "SASL_SSL");
}

#[test]
fn journal_topics_and_replication_are_checked() {
    let s = load(&[], &[], Overrides::default()).unwrap();
    assert_eq!(
        (
            s.journal.topic.as_str(),
            s.journal.replication_factor,
            s.journal.min_insync_replicas
        ),
        ("digit-user.journal", 3, 2)
    );
    for (vars, names) in [
        (
            &[("DIGIT_USER__JOURNAL__TOPIC", "bad topic")][..],
            "journal.topic",
        ),
        (
            &[(
                "DIGIT_USER__JOURNAL__REVOCATIONS_TOPIC",
                "digit-user.journal",
            )][..],
            "must differ",
        ),
        (
            &[("DIGIT_USER__JOURNAL__DIRECTORY_TOPIC", "digit-user.members")][..],
            "must differ",
        ),
        (
            &[("DIGIT_USER__JOURNAL__DIRECTORY_TOPIC", "a/b")][..],
            "journal.directory_topic",
        ),
        (
            &[(
                "DIGIT_USER__JOURNAL__TOPIC",
                "egov.core.notification.sms.otp",
            )][..],
            "notification topic",
        ),
        (
            &[("DIGIT_USER__JOURNAL__MIN_INSYNC_REPLICAS", "4")][..],
            "min_insync_replicas",
        ),
        (
            &[("DIGIT_USER__JOURNAL__REPLICATION_FACTOR", "0")][..],
            "replication_factor",
        ),
        (
            &[("DIGIT_USER__JOURNAL__ADMIN_TIMEOUT_MS", "10")][..],
            "admin_timeout_ms",
        ),
        (
            &[("DIGIT_USER__JOURNAL__PRODUCE_TIMEOUT_MS", "100")][..],
            "produce_timeout_ms",
        ),
        (
            &[("DIGIT_USER__JOURNAL__FENCE_CHECK_MS", "10")][..],
            "fence_check_ms",
        ),
        (
            &[("DIGIT_USER__JOURNAL__MIN_COMPACTION_LAG_MS", "60000")][..],
            "min_compaction_lag_ms must be at least 10",
        ),
        (
            &[("DIGIT_USER__JOURNAL__STANDBY_REPLICAS", "9")][..],
            "standby_replicas",
        ),
        (
            &[("DIGIT_USER__JOURNAL__STANDBY_POLL_MS", "5")][..],
            "standby_poll_ms",
        ),
        (
            &[("DIGIT_USER__CLUSTER__SESSION_TIMEOUT_MS", "1000")][..],
            "session_timeout_ms",
        ),
        (&[("DIGIT_USER__CLUSTER__DRAIN_MS", "10")][..], "drain_ms"),
        (
            &[("DIGIT_USER__CLUSTER__HANDOVER_MS", "100")][..],
            "handover_ms",
        ),
        (
            &[("DIGIT_USER__CLUSTER__OWNER_WAIT_MS", "60000")][..],
            "owner_wait_ms",
        ),
        (
            &[("DIGIT_USER__CLUSTER__UNREACHABLE_HOLD_MS", "3600001")][..],
            "unreachable_hold_ms",
        ),
    ] {
        let err = load(&[], vars, Overrides::default()).unwrap_err();
        assert!(
            matches!(err, ConfigError::Range(_)) && err.to_string().contains(names),
            "{vars:?}: {err}"
        );
    }
    // the journal is on exactly when Kafka is configured and it is not switched off
    assert!(!s.journal_on());
    let on = load(
        &[],
        &[("DIGIT_USER__KAFKA__BROKERS", "kafka:9092")],
        Overrides::default(),
    )
    .unwrap();
    assert!(on.journal_on());
}

#[test]
fn the_keys_of_the_partition_map_are_refused_naming_where_they_were_set_and_the_group() {
    for (file, vars, key, layer) in [
        (
            "[cluster]\nreplicas = 3\n",
            &[][..],
            "cluster.replicas",
            "TOML file",
        ),
        (
            "",
            &[("DIGIT_USER__CLUSTER__MAP_FILE", "/etc/map.json")][..],
            "cluster.map_file",
            "DIGIT_USER__CLUSTER__MAP_FILE",
        ),
        (
            "",
            &[("DIGIT_USER__CLUSTER__OWNERSHIP", "group")][..],
            "cluster.ownership",
            "DIGIT_USER__CLUSTER__OWNERSHIP",
        ),
    ] {
        let files: &[(&str, &str)] = if file.is_empty() {
            &[]
        } else {
            &[("extra.toml", file)]
        };
        let err = load(files, vars, Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ConfigError::Retired { .. })
                && text.contains(key)
                && text.contains(layer)
                && text.contains("consumer group"),
            "{file}{vars:?}: {text}"
        );
    }
}

#[test]
fn the_audit_feed_needs_brokers_and_a_bounded_queue() {
    let topic = ("DIGIT_USER__AUDIT__KAFKA_TOPIC", "siem.audit");
    let err = load(&[], &[topic], Overrides::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("audit.kafka_topic needs kafka.brokers"),
        "{err}"
    );
    let on = load(
        &[],
        &[topic, ("DIGIT_USER__KAFKA__BROKERS", "kafka:9092")],
        Overrides::default(),
    )
    .unwrap();
    assert_eq!(on.audit.kafka_topic, "siem.audit");
    assert_eq!(on.audit.feed_max_pending, 100_000);
    let unbounded = load(
        &[],
        &[("DIGIT_USER__AUDIT__FEED_MAX_PENDING", "0")],
        Overrides::default(),
    );
    assert!(unbounded.is_err());
}
