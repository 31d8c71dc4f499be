//! Where notifications go: the [`Sink`] trait and the `file` sink of the embedded default.
//!
//! A sink delivers one batch and says, per record, whether it was acknowledged; the notifier deletes from the
//! outbox only what was. The Kafka sink (service crate) implements the same trait.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

use crate::store::OutboxRecord;

/// The outcome of one record.
pub type Delivery = Result<(), String>;

/// A delivery target.
pub trait Sink: Send + Sync + 'static {
    /// Delivers `batch`; the result has one entry per record, in order.
    fn deliver<'a>(
        &'a self,
        batch: &'a [OutboxRecord],
    ) -> Pin<Box<dyn Future<Output = Vec<Delivery>> + 'a>>;

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

    fn append(&self, batch: &[OutboxRecord]) -> Result<(), String> {
        let mut guard = self
            .file
            .lock()
            .map_err(|_| "file sink lock poisoned".to_owned())?;
        if guard.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        let mut buf = Vec::new();
        for record in batch {
            let line = serde_json::json!({
                "channel": record.channel.as_str(),
                "messageId": record.message_id,
                "payload": record.payload,
            });
            serde_json::to_writer(&mut buf, &line).map_err(|e| e.to_string())?;
            buf.push(b'\n');
        }
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl Sink for FileSink {
    fn deliver<'a>(
        &'a self,
        batch: &'a [OutboxRecord],
    ) -> Pin<Box<dyn Future<Output = Vec<Delivery>> + 'a>> {
        Box::pin(async move {
            let result = self.append(batch);
            vec![result; batch.len()]
        })
    }

    fn name(&self) -> &'static str {
        "file"
    }
}
