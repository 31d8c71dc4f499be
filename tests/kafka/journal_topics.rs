//! `digit-user admin journal check` against a real broker: it creates the journal's topics as the journal
//! needs them, accepts them on the next run, and refuses a topic that would misplace or lose records.

use std::process::{Command, Output};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::broker::Broker;

fn journal_check(broker: &Broker, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_digit-user"));
    cmd.args(["admin", "journal", "check", "--data-dir"])
        .arg(dir.path())
        .env("DIGIT_USER__KAFKA__BROKERS", broker.address())
        .env("DIGIT_USER__CLUSTER__PARTITIONS", "16")
        .env("DIGIT_USER__JOURNAL__ADMIN_TIMEOUT_MS", "5000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Partition count and cleanup.policy as the broker describes the topic.
fn described(broker: &Broker, topic: &str) -> (usize, Option<String>) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .create()
        .unwrap();
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len();
    let configs = actix_web::rt::System::new()
        .block_on(admin.describe_configs(
            [&ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(5))),
        ))
        .unwrap();
    let policy = configs[0]
        .as_ref()
        .unwrap()
        .entries
        .iter()
        .find(|e| e.name == "cleanup.policy")
        .and_then(|e| e.value.clone());
    (partitions, policy)
}

#[test]
fn journal_check_creates_the_topics_accepts_them_and_refuses_what_would_lose_records() {
    let broker = Broker::start();

    let first = journal_check(&broker, &[]);
    let out = text(&first.stdout);
    assert!(first.status.success(), "{out}{}", text(&first.stderr));
    assert!(
        out.contains("digit-user.journal: created (16 partitions")
            && out.contains("digit-user.revocations: created (1 partitions")
            && out.contains("digit-user.directory: created (1 partitions"),
        "{out}"
    );
    assert_eq!(
        described(&broker, "digit-user.journal"),
        (16, Some("compact".into()))
    );
    assert_eq!(
        described(&broker, "digit-user.revocations"),
        (1, Some("compact".into()))
    );
    assert_eq!(
        described(&broker, "digit-user.directory"),
        (1, Some("compact".into()))
    );

    let again = journal_check(&broker, &[]);
    let out = text(&again.stdout);
    assert!(again.status.success(), "{out}{}", text(&again.stderr));
    assert!(
        out.contains("digit-user.journal: valid") && out.contains("digit-user.revocations: valid"),
        "{out}"
    );

    // a deployment configured with another partition count than its journal was created with
    let other = journal_check(&broker, &[("DIGIT_USER__CLUSTER__PARTITIONS", "32")]);
    let err = text(&other.stderr);
    assert_eq!(other.status.code(), Some(1), "{err}");
    assert!(
        err.contains("digit-user.journal: has 16 partitions, this deployment has 32"),
        "{err}"
    );

    // a topic someone made by hand, with Kafka's default deletion by age
    let url = format!("tcp://{}", broker.address());
    let made = Command::new(std::env::var("TANSU").unwrap_or_else(|_| "tansu".into()))
        .args(["topic", "create", "by-hand.journal", "--broker", &url])
        .args(["--partitions", "16"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let plain = journal_check(
        &broker,
        &[("DIGIT_USER__JOURNAL__TOPIC", "by-hand.journal")],
    );
    let err = text(&plain.stderr);
    assert_eq!(plain.status.code(), Some(1), "{err}");
    assert!(
        err.contains("by-hand.journal: cleanup.policy is \"delete\""),
        "{err}"
    );
    assert_eq!(
        described(&broker, "by-hand.journal"),
        (16, None),
        "nothing was altered"
    );

    // no brokers configured
    let none = journal_check(&broker, &[("DIGIT_USER__KAFKA__BROKERS", "")]);
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("kafka.brokers is not set"));
}
