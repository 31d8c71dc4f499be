//! A real Kafka-protocol broker for the tests: `tansu` (installed by `scripts/test.sh`) with in-memory
//! storage on a loopback port, its topics created, stopped by PID. An rdkafka consumer reads what arrived.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Offset, TopicPartitionList};

/// The topics the service publishes to by default.
pub const SMS_TOPIC: &str = "egov.core.notification.sms.otp";
/// The e-mail topic.
pub const EMAIL_TOPIC: &str = "egov.core.notification.email";
/// Partitions per topic.
pub const PARTITIONS: i32 = 3;

/// A running broker; killed when dropped.
pub struct Broker {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

fn tansu() -> String {
    std::env::var("TANSU").unwrap_or_else(|_| "tansu".to_owned())
}

impl Broker {
    /// Starts a broker on `port` and creates the two topics.
    pub fn start_on(port: u16) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "tansu is installed by scripts/test.sh (cargo install tansu --features dynostore)",
            );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        for topic in [SMS_TOPIC, EMAIL_TOPIC] {
            let status = Command::new(tansu())
                .args(["topic", "create", topic, "--broker", &url])
                .args(["--partitions", &PARTITIONS.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "creating {topic}");
        }
        Self {
            child: Some(child),
            port,
        }
    }

    /// Starts a broker on a free port.
    pub fn start() -> Self {
        Self::start_on(crate::helpers::free_port())
    }

    /// `127.0.0.1:<port>`
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id (to freeze it with SIGSTOP).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Creates `topic` with `partitions` partitions (Kafka's default cleanup policy).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let url = format!("tcp://{}", self.address());
        let made = Command::new(tansu())
            .args(["topic", "create", topic, "--broker", &url])
            .args(["--partitions", &partitions.to_string()])
            .output()
            .unwrap();
        assert!(made.status.success(), "creating {topic}");
    }

    /// Kills the broker (its in-memory topics are gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Topic.
    pub topic: String,
    /// Key as text.
    pub key: String,
    /// The `message-id` header.
    pub message_id: Option<String>,
    /// Every header name.
    pub header_names: Vec<String>,
    /// Payload as JSON.
    pub payload: serde_json::Value,
}

/// [`consume`] off the test's runtime thread, so an in-process service keeps running meanwhile.
pub async fn consume_async(
    address: &str,
    topic: &'static str,
    want: usize,
    within: Duration,
    settle: Duration,
) -> Vec<Consumed> {
    let address = address.to_owned();
    actix_web::rt::task::spawn_blocking(move || consume(&address, topic, want, within, settle))
        .await
        .unwrap()
}

/// Reads `topic` from the beginning until `want` messages arrived or `within` passed, then keeps reading
/// for `settle` to catch duplicates.
pub fn consume(
    address: &str,
    topic: &str,
    want: usize,
    within: Duration,
    settle: Duration,
) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("group.id", "digit-user-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    let mut settle_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > deadline || settle_until.is_some_and(|t| now > t) {
            break;
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let headers = m.headers();
            let header_names = headers
                .map(|h| h.iter().map(|h| h.key.to_owned()).collect())
                .unwrap_or_default();
            let message_id = headers.and_then(|h| {
                h.iter()
                    .find(|h| h.key == "message-id")
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            });
            out.push(Consumed {
                topic: m.topic().to_owned(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                message_id,
                header_names,
                payload: serde_json::from_slice(m.payload().unwrap_or_default()).unwrap(),
            });
        }
        if out.len() >= want && settle_until.is_none() {
            settle_until = Some(Instant::now() + settle);
        }
    }
    out
}
