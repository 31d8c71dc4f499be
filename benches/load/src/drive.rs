//! Driving a scenario: steps run from many tasks for a while, their latencies kept in a histogram.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::wire::Answer;
use hdrhistogram::Histogram;

/// One measured run.
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub micros: Histogram<u64>,
    pub elapsed: Duration,
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn ms(&self, q: f64) -> f64 {
        self.micros.value_at_quantile(q) as f64 / 1000.0
    }

    /// This run and `other` as one: their requests, errors, latencies and times together.
    pub fn merged(mut self, other: Outcome) -> Outcome {
        self.requests += other.requests;
        self.errors += other.errors;
        self.micros
            .add(&other.micros)
            .expect("histograms of one shape");
        self.elapsed += other.elapsed;
        self.first_error = self.first_error.or(other.first_error);
        self
    }
}

/// What a step returns to end its task (the work is done).
pub const STOP: &str = "\u{0}stop";

pub type Step =
    Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Runs `step` from `concurrency` tasks for `duration`; each call's latency is recorded.
pub async fn drive(concurrency: usize, duration: Duration, step: Step) -> Outcome {
    drive_paced(concurrency, duration, None, step).await
}

/// Runs `step` for every n of `0..count`, 64 calls at a time, however long it takes — to set a state up,
/// not to measure a rate.
pub async fn drive_count(count: u64, step: Step) -> Outcome {
    let bounded: Step = Arc::new(move |n| {
        if n >= count {
            Box::pin(async { Err(STOP.to_owned()) })
        } else {
            step(n)
        }
    });
    drive(64, Duration::from_secs(24 * 3600), bounded).await
}

/// [`drive`] with each task pausing `pace` between calls (not counted in the latency).
pub async fn drive_paced(
    concurrency: usize,
    duration: Duration,
    pace: Option<Duration>,
    step: Step,
) -> Outcome {
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (step, counter) = (step.clone(), counter.clone());
            tokio::spawn(async move {
                let mut micros = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let (mut errors, mut first_error) = (0u64, None);
                while Instant::now() < deadline {
                    if let Some(pace) = pace {
                        tokio::time::sleep(pace).await;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let t0 = Instant::now();
                    let result = step(n).await;
                    if matches!(&result, Err(e) if e == STOP) {
                        break;
                    }
                    micros.saturating_record(t0.elapsed().as_micros() as u64);
                    if let Err(e) = result {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                (micros, errors, first_error)
            })
        })
        .collect();
    let mut outcome = Outcome {
        requests: 0,
        errors: 0,
        micros: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        elapsed: Duration::ZERO,
        first_error: None,
    };
    for task in tasks {
        let (micros, errors, first_error) = task.await.unwrap();
        outcome.requests += micros.len();
        outcome.errors += errors;
        outcome.micros.add(&micros).unwrap();
        if outcome.first_error.is_none() {
            outcome.first_error = first_error;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// `Ok` when `answer` has the status `want`; otherwise an error naming `what`, the status and the body's start.
pub fn expect(answer: &Answer, want: u16, what: &str) -> Result<(), String> {
    if answer.status == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    }
}

pub fn step<F, Fut>(f: F) -> Step
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |n| Box::pin(f(n)))
}
