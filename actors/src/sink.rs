//! Where notifications go: the [`Sink`] trait and the `file` sink of the embedded default.
//!
//! A sink delivers one batch and says, per record, whether it was acknowledged; the notifier deletes from the
//! outbox only what was. A sink renders each record's notification to DIGIT's JSON
//! ([`crate::domain::notification::Notification::to_digit_json`]) with the SMS `expiryTime` the notifier
//! stamps at delivery. The Kafka sink (service crate) implements the same trait.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::store::OutboxRecord;

/// Why a record was not delivered: the cause as the sink met it (an I/O error, the broker's answer).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(Arc<dyn std::error::Error + Send + Sync>);

impl DeliveryError {
    /// A delivery error caused by `cause`.
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(cause))
    }

    /// A delivery error described by `message` (a cause with no error type of its own).
    pub fn msg(message: impl Into<String>) -> Self {
        Self(Arc::new(Message(message.into())))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

/// The outcome of one record.
pub type Delivery = Result<(), DeliveryError>;

/// A batch to deliver.
pub struct Batch<'a> {
    /// The records, oldest first.
    pub records: &'a [OutboxRecord],
    /// The SMS `expiryTime` of this delivery (epoch ms): the gateway discards an SMS after it.
    pub sms_expiry_time: i64,
}

/// A delivery target.
pub trait Sink: Send + Sync + 'static {
    /// Delivers `batch`; the result has one entry per record, in order.
    fn deliver<'a>(&'a self, batch: Batch<'a>)
    -> Pin<Box<dyn Future<Output = Vec<Delivery>> + 'a>>;

    /// Name for logs and metrics.
    fn name(&self) -> &'static str;

    /// Waits up to `within` for deliveries still in flight (shutdown, after the notifier's drain).
    fn flush(&self, within: std::time::Duration) {
        let _ = within;
    }
}

/// Appends each payload as one JSON line to a file — for running locally, where the file stands in for the
/// SMS and e-mail gateways. Each line also carries the channel and the `message-id`.
pub struct FileSink {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl FileSink {
    /// A sink appending to `path` (created with mode 0600 on first use).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: Mutex::new(None),
        }
    }

    fn append(&self, batch: &Batch<'_>) -> Result<(), DeliveryError> {
        // a writer that panicked left at most a partial line, which the next append follows
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let at = |e: std::io::Error| {
            DeliveryError::new(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", self.path.display()),
            ))
        };
        if guard.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(at)?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        let mut buf = Vec::new();
        for record in batch.records {
            let line = serde_json::json!({
                "channel": record.channel().as_str(),
                "messageId": record.message_id,
                "payload": record.notification.to_digit_json(batch.sms_expiry_time),
            });
            serde_json::to_writer(&mut buf, &line).map_err(DeliveryError::new)?;
            buf.push(b'\n');
        }
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(at)
    }
}

impl Sink for FileSink {
    fn deliver<'a>(
        &'a self,
        batch: Batch<'a>,
    ) -> Pin<Box<dyn Future<Output = Vec<Delivery>> + 'a>> {
        Box::pin(async move {
            let result = self.append(&batch);
            vec![result; batch.records.len()]
        })
    }

    fn name(&self) -> &'static str {
        "file"
    }
}
