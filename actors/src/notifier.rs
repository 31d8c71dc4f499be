//! `Notifier`: drains the outbox to the sink.
//!
//! One batch at a time (at most `batch` records in flight), oldest first. A record is deleted only after the
//! sink acknowledged it; a failure keeps it, counts the attempt and backs off (doubling from `backoff_min` to
//! `backoff_max`). A record whose code expired before it could be delivered is dropped, since the SMS would
//! be useless. The SMS `expiryTime` is stamped at delivery (now + `sms_expiry_ms`), so a delay in the
//! outbox never makes the SMS gateway discard a message that is still worth sending. `Kick` wakes it after
//! a send; a timer polls otherwise. `Drain` delivers what it can within a bound, for shutdown.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::Clock;
use crate::metrics as m;
use crate::sink::Sink;
use crate::sink::{Batch, DeliveryError};
use crate::store::{OutboxRecord, Store, StoreError};

/// Why a delivery round delivered nothing.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The outbox could not be read or updated.
    #[error("outbox: {0}")]
    Store(#[from] StoreError),
    /// The sink refused every record of the batch (the first refusal).
    #[error(transparent)]
    Delivery(DeliveryError),
}

/// Delivery settings.
#[derive(Debug, Clone, Copy)]
pub struct NotifierConfig {
    /// Records per batch (in flight at most).
    pub batch: usize,
    /// Poll period when idle.
    pub poll: Duration,
    /// First back-off after a failure.
    pub backoff_min: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
    /// SMS `expiryTime` = delivery time + this, ms (`expiry.time.for.otp`).
    pub sms_expiry_ms: i64,
}

/// Deliver now (sent after each OTP send).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kick;

/// Deliver until the outbox is empty or `within` has passed; answers the records left.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain {
    /// The bound.
    pub within: Duration,
}

/// The actor.
pub struct Notifier {
    store: Arc<Store>,
    sink: Arc<dyn Sink>,
    clock: Clock,
    config: NotifierConfig,
    busy: bool,
    backoff: Option<Duration>,
    /// Held through a delivery round: a drain and the poll never deliver (or count) at once.
    round: Arc<tokio::sync::Mutex<()>>,
}

impl Notifier {
    /// A notifier from the outbox of `store` to `sink`.
    pub fn new(
        store: Arc<Store>,
        sink: Arc<dyn Sink>,
        clock: Clock,
        config: NotifierConfig,
    ) -> Self {
        Self {
            store,
            sink,
            clock,
            config,
            busy: false,
            backoff: None,
            round: Arc::default(),
        }
    }

    /// Delivers one batch; returns how many records were acknowledged or dropped, or the first error.
    async fn deliver_batch(
        store: Arc<Store>,
        sink: Arc<dyn Sink>,
        clock: Clock,
        config: NotifierConfig,
        round: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<usize, RoundError> {
        let _round = round.lock().await;
        let batch = store.outbox().batch(config.batch).await?;
        let now = clock.now_ms();
        // the outbox is ordered by queueing: the batch's first record is the oldest waiting
        let oldest = batch
            .first()
            .map_or(0, |(_, r)| (now - r.created_ms).max(0));
        metrics::gauge!(m::OUTBOX_OLDEST_AGE_SECONDS).set(oldest as f64 / 1000.0);
        if batch.is_empty() {
            metrics::gauge!(m::OUTBOX_DEPTH).set(0.0);
            return Ok(0);
        }
        let (expired, live): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|(_, r)| r.expires_ms.is_some_and(|t| t <= now));
        // removals are applied as one batch per delivery round: fewer page rewrites than one by one
        let mut acked: Vec<u64> = Vec::with_capacity(expired.len() + live.len());
        for (seq, record) in &expired {
            tracing::warn!(channel = record.channel().as_str(), message_id = %record.message_id, "notification dropped: its code expired before delivery");
            acked.push(*seq);
            delivered(record, sink.name(), "expired");
        }
        let (seqs, records): (Vec<u64>, Vec<OutboxRecord>) = live.into_iter().unzip();
        let results = sink
            .deliver(Batch {
                records: &records,
                sms_expiry_time: now + config.sms_expiry_ms,
            })
            .await;
        let mut done = expired.len();
        let mut first_error = None;
        for ((seq, stored), result) in seqs.into_iter().zip(records).zip(results) {
            match result {
                Ok(()) => {
                    acked.push(seq);
                    done += 1;
                    let channel = stored.channel().as_str();
                    delivered(&stored, sink.name(), "delivered");
                    let waited = (clock.now_ms() - stored.created_ms).max(0) as f64 / 1000.0;
                    metrics::histogram!(m::NOTIFICATION_DELIVERY_SECONDS, "channel" => channel)
                        .record(waited);
                }
                Err(e) => {
                    delivered(&stored, sink.name(), "failed");
                    let mut stored = stored;
                    stored.attempts += 1;
                    stored.last_error = Some(e.to_string());
                    store.outbox().failed(seq, &stored).await?;
                    first_error.get_or_insert(e);
                }
            }
        }
        store.outbox().ack_all(&acked).await?;
        metrics::gauge!(m::OUTBOX_DEPTH).set(store.outbox().depth() as f64);
        match first_error {
            Some(e) if done == 0 => Err(RoundError::Delivery(e)),
            _ => Ok(done),
        }
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let fut = Self::deliver_batch(
            self.store.clone(),
            self.sink.clone(),
            self.clock.clone(),
            self.config,
            self.round.clone(),
        );
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.busy = false;
            match result {
                Ok(0) => act.backoff = None,
                Ok(_) => {
                    act.backoff = None;
                    act.run(ctx); // more may be waiting
                }
                Err(e) => {
                    let next = act.backoff.map_or(act.config.backoff_min, |b| (b * 2).min(act.config.backoff_max));
                    tracing::warn!(sink = act.sink.name(), error = %e, retry_in_ms = next.as_millis() as u64, "notification delivery failed");
                    act.backoff = Some(next);
                    ctx.run_later(next, |act, ctx| act.run(ctx));
                }
            }
        }));
    }
}

/// Counts one delivery outcome with the labels of the send that queued the record.
fn delivered(record: &OutboxRecord, sink: &'static str, result: &'static str) {
    let (purpose, tenant) = record
        .labels
        .clone()
        .unwrap_or_else(|| ("unknown".to_owned(), m::OTHER_TENANT.to_owned()));
    metrics::counter!(m::NOTIFICATIONS_DELIVERED, "channel" => record.channel().as_str(), "sink" => sink,
                      "purpose" => purpose, "tenant" => tenant, "result" => result)
    .increment(1);
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(self.config.poll, |act, ctx| {
            if act.backoff.is_none() {
                act.run(ctx);
            }
        });
        self.run(ctx);
    }
}

impl Handler<Kick> for Notifier {
    type Result = ();

    fn handle(&mut self, _: Kick, ctx: &mut Self::Context) {
        if self.backoff.is_none() {
            self.run(ctx);
        }
    }
}

impl Handler<Drain> for Notifier {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: Drain, _: &mut Self::Context) -> Self::Result {
        let (store, sink, clock, config, round) = (
            self.store.clone(),
            self.sink.clone(),
            self.clock.clone(),
            self.config,
            self.round.clone(),
        );
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + msg.within;
            while tokio::time::Instant::now() < deadline && store.outbox().depth() > 0 {
                match tokio::time::timeout_at(
                    deadline,
                    Self::deliver_batch(
                        store.clone(),
                        sink.clone(),
                        clock.clone(),
                        config,
                        round.clone(),
                    ),
                )
                .await
                {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => break,
                }
            }
            store.outbox().depth()
        })
    }
}
