//! Time as an input: everything that needs "now" asks a [`Clock`], and every deadline an actor waits for
//! (a code's expiry, an idle stop, the end of a lock) is a timer of the same clock, so a test holds time
//! still and moves it for `now` and the timers alike.
//!
//! A manual clock is a [`tokio::sync::watch`] channel of the current instant: [`Clock::advance_ms`] sends
//! the new instant, and every timer waiting on it — on whichever arbiter or worker thread its actor lives —
//! wakes on its own runtime and fires when its deadline is reached. Tokio's paused time cannot do this: it
//! belongs to one runtime, and each arbiter has its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, SpawnHandle};
use tokio::sync::watch;

/// A source of the current time in epoch milliseconds (UTC), and of timers on it.
#[derive(Clone, Default)]
pub enum Clock {
    /// The system clock; timers are tokio's.
    #[default]
    System,
    /// A clock that only moves when told to (tests); timers fire as it moves.
    Manual(Arc<watch::Sender<i64>>),
}

/// A timer's wait: resolves once the clock reaches a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Clock {
    /// A manual clock starting at `epoch_ms`.
    pub fn manual(epoch_ms: i64) -> Self {
        Self::Manual(Arc::new(watch::Sender::new(epoch_ms)))
    }

    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System => {
                time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
            }
            Self::Manual(now) => *now.borrow(),
        }
    }

    /// Moves a manual clock forward and wakes the timers it reached; a no-op on the system clock.
    pub fn advance_ms(&self, by: i64) {
        if let Self::Manual(now) = self {
            now.send_modify(|ms| *ms += by);
        }
    }

    /// Moves a manual clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.advance_ms(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
    }

    /// Resolves once the clock reads `deadline_ms` or later (at once when it already does).
    pub fn sleep_until(&self, deadline_ms: i64) -> Sleep {
        match self {
            Self::System => {
                let wait = u64::try_from(deadline_ms - self.now_ms()).unwrap_or(0);
                Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
            }
            Self::Manual(now) => {
                let mut moves = now.subscribe();
                Box::pin(async move {
                    // the sender lives as long as any clone of the clock: a closed channel means no one can
                    // move time any more, and the timer simply never fires
                    if moves.wait_for(|ms| *ms >= deadline_ms).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                })
            }
        }
    }

    /// Runs `then` on the actor once `wait` has passed on this clock; cancel it with the handle
    /// (`ctx.cancel_future`). The twin of [`actix::AsyncContext::run_later`] on this clock.
    pub fn run_later<A>(
        &self,
        ctx: &mut A::Context,
        wait: Duration,
        then: impl FnOnce(&mut A, &mut A::Context) + 'static,
    ) -> SpawnHandle
    where
        A: Actor,
        A::Context: AsyncContext<A>,
    {
        let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        self.run_at(ctx, self.now_ms().saturating_add(wait), then)
    }

    /// Runs `then` on the actor once this clock reads `deadline_ms`; cancel it with the handle.
    pub fn run_at<A>(
        &self,
        ctx: &mut A::Context,
        deadline_ms: i64,
        then: impl FnOnce(&mut A, &mut A::Context) + 'static,
    ) -> SpawnHandle
    where
        A: Actor,
        A::Context: AsyncContext<A>,
    {
        ctx.spawn(
            actix::fut::wrap_future::<_, A>(self.sleep_until(deadline_ms))
                .map(move |(), act, ctx| then(act, ctx)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_timer_fires_when_the_clock_reaches_its_deadline_not_before() {
        let clock = Clock::manual(1_000);
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = tokio::spawn({
            let (sleep, fired) = (clock.sleep_until(1_500), fired.clone());
            async move {
                sleep.await;
                fired.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        clock.advance_ms(499);
        tokio::task::yield_now().await;
        assert!(
            !fired.load(std::sync::atomic::Ordering::SeqCst),
            "1 ms early"
        );
        clock.advance_ms(1);
        timer.await.unwrap();
        assert!(fired.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_deadline_already_past_fires_at_once() {
        let clock = Clock::manual(1_000);
        tokio::time::timeout(Duration::from_secs(5), clock.sleep_until(999))
            .await
            .expect("no wait for a deadline in the past");
    }
}
