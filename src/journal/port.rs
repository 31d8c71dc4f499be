//! [`JournalLog`] as the store's [`JournalPort`]: its appends and claims timed and counted, failing at once
//! for a moment after one failed, and its reads with Kafka's errors sorted into "retry later" and "an operator
//! must act".

use std::time::Duration;

use actors::metrics as m;
use actors::store::journal::JournalMessage;
use actors::store::{JournalError, JournalFuture, JournalPort, Landed, Op, StoreError};

use super::log::{AppendError, JournalLog, ReadError};

/// After an append or claim failed, how long the next ones fail at once instead of each waiting out the
/// timeout on a broker that does not answer: one probe a second finds out when it does again.
const PROBE_EVERY: Duration = Duration::from_secs(1);

impl JournalLog {
    /// Fails at once while a recent failure says the brokers do not answer.
    fn check_up(&self) -> Result<(), JournalError> {
        let down = *self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        match down {
            Some(until) if std::time::Instant::now() < until => Err(JournalError::Unavailable(
                "the journal did not answer a moment ago; retry shortly".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Records how an append or claim ended, for [`check_up`](Self::check_up) and the metrics.
    fn record<T>(&self, result: &Result<T, AppendError>) {
        let up = result.is_ok();
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
            (!up).then(|| std::time::Instant::now() + PROBE_EVERY);
        metrics::gauge!(m::JOURNAL_UP).set(if up { 1.0 } else { 0.0 });
    }
}

impl JournalPort for JournalLog {
    fn append<'a>(
        &'a self,
        partition: u16,
        generation: u64,
        change_set: u64,
        undoes: Option<u64>,
        ops: &'a [Op],
    ) -> JournalFuture<'a, Landed> {
        Box::pin(async move {
            self.check_up()?;
            let started = std::time::Instant::now();
            let partition = i32::from(partition);
            let appended =
                JournalLog::append(self, partition, generation, change_set, undoes, ops).await;
            self.record(&appended);
            let result = if appended.is_ok() { "ok" } else { "failed" };
            metrics::counter!(m::JOURNAL_APPENDS, "result" => result).increment(1);
            if appended.is_ok() {
                metrics::histogram!(m::JOURNAL_APPEND_SECONDS)
                    .record(started.elapsed().as_secs_f64());
            }
            appended.map_err(|e| JournalError::Unavailable(e.to_string()))
        })
    }

    fn claim(&self, partition: u16) -> JournalFuture<'_, i64> {
        Box::pin(async move {
            self.check_up()?;
            let claim = JournalLog::claim(self, i32::from(partition)).await;
            self.record(&claim);
            claim.map_err(|e| JournalError::Unavailable(e.to_string()))
        })
    }

    fn end(&self, partition: u16) -> Result<i64, StoreError> {
        JournalLog::end(self, i32::from(partition))
            .map_err(|e| JournalError::Unavailable(e.to_string()).into())
    }

    fn read(
        &self,
        partition: u16,
        applied: Option<i64>,
        each: &mut dyn FnMut(i64, &JournalMessage) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match JournalLog::read(self, i32::from(partition), applied, each) {
            Ok(_) => Ok(()),
            Err(ReadError::Store(e)) => Err(e),
            Err(e @ ReadError::Kafka { .. }) => {
                Err(JournalError::Unavailable(e.to_string()).into())
            }
            Err(e) => Err(JournalError::Unservable(e.to_string()).into()),
        }
    }
}
