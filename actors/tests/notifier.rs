//! The notifier: outbox → sink, deleting only what the sink acknowledged.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ::actors::Clock;
use ::actors::notifier::{Drain, Kick, Notifier, NotifierConfig};

use ::actors::domain::notification::Notification;
use ::actors::sink::{Batch, Delivery, DeliveryError, FileSink, Sink};
use ::actors::store::{OutboxRecord, Store};
use actix::prelude::*;

fn open(dir: &std::path::Path) -> Arc<Store> {
    ::actors::testing::open_store(dir)
}

const CONFIG: NotifierConfig = NotifierConfig {
    batch: 16,
    poll: Duration::from_millis(20),
    backoff_min: Duration::from_millis(10),
    backoff_max: Duration::from_millis(40),
    sms_expiry_ms: 3000,
};

fn record(n: u32, expires_ms: Option<i64>) -> OutboxRecord {
    OutboxRecord {
        message_id: format!("m-{n}"),
        notification: Notification::Sms {
            mobile: "9876543210".into(),
            message: format!("code {n}"),
            country_code: Some("+91".into()),
        },
        created_ms: 0,
        expires_ms,
        attempts: 0,
        last_error: None,
        tenant: None,
        labels: None,
    }
}

async fn queue(store: &Store, records: &[OutboxRecord]) {
    let key = store.otp().session_key("pb", "9876543210");
    store
        .otp()
        .save(&key, &Default::default(), None, records)
        .await
        .unwrap();
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        actix::clock::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 2 s");
}

#[actix::test]
async fn the_file_sink_gets_every_payload_in_order_with_expiry_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    queue(&store, &[record(1, None), record(2, Some(i64::MAX))]).await;
    let path = dir.path().join("notifications.jsonl");
    let notifier = Notifier::new(
        store.clone(),
        Arc::new(FileSink::new(path.clone())),
        Clock::manual(1_000),
        CONFIG,
    )
    .start();
    notifier.do_send(Kick);
    wait_until(|| store.outbox().depth() == 0).await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["messageId"], "m-1");
    assert_eq!(lines[1]["payload"]["message"], "code 2");
    assert_eq!(
        lines[0]["payload"]["expiryTime"], 4_000,
        "delivery time + sms_expiry_ms"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Fails its first `failures` deliveries.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
    delivered: AtomicUsize,
}

impl Sink for Flaky {
    fn deliver<'a>(
        &'a self,
        batch: Batch<'a>,
    ) -> Pin<Box<dyn Future<Output = Vec<Delivery>> + 'a>> {
        let n = batch.records.len();
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return vec![Err(DeliveryError::msg("broker unreachable")); n];
            }
            self.delivered.fetch_add(n, Ordering::SeqCst);
            vec![Ok(()); n]
        })
    }

    fn name(&self) -> &'static str {
        "flaky"
    }
}

#[actix::test]
async fn failures_keep_the_record_and_retry_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    queue(&store, &[record(1, None)]).await;
    let sink = Arc::new(Flaky {
        failures: 3,
        calls: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
    });
    let _notifier = Notifier::new(store.clone(), sink.clone(), Clock::manual(0), CONFIG).start();
    wait_until(|| sink.calls.load(Ordering::SeqCst) >= 2).await;
    let kept = store.outbox().waiting(1).unwrap();
    assert_eq!(kept.len(), 1, "kept while failing");
    assert!(kept[0].1.attempts >= 1);
    assert_eq!(kept[0].1.last_error.as_deref(), Some("broker unreachable"));
    wait_until(|| store.outbox().depth() == 0).await;
    assert_eq!(sink.delivered.load(Ordering::SeqCst), 1, "delivered once");
}

#[actix::test]
async fn records_whose_code_expired_are_dropped_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    queue(&store, &[record(1, Some(500)), record(2, Some(5_000))]).await;
    let sink = Arc::new(Flaky {
        failures: 0,
        calls: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
    });
    let _notifier =
        Notifier::new(store.clone(), sink.clone(), Clock::manual(1_000), CONFIG).start();
    wait_until(|| store.outbox().depth() == 0).await;
    assert_eq!(sink.delivered.load(Ordering::SeqCst), 1);
}

#[actix::test]
async fn drain_is_bounded_and_reports_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    queue(&store, &[record(1, None), record(2, None)]).await;
    let sink = Arc::new(Flaky {
        failures: usize::MAX,
        calls: AtomicUsize::new(0),
        delivered: AtomicUsize::new(0),
    });
    let notifier = Notifier::new(store.clone(), sink, Clock::manual(0), CONFIG).start();
    let started = std::time::Instant::now();
    let left = notifier
        .send(Drain {
            within: Duration::from_millis(200),
        })
        .await
        .unwrap();
    assert_eq!(left, 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}
