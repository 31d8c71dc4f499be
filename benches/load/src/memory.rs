//! `memory_sessions`: the resident memory a live OTP session costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::drive::{Outcome, drive_count, expect, step};
use crate::service::{Api, Service};
use crate::{Args, round};

/// Sends a register OTP to `count` distinct numbers starting with `prefix`, 64 at a time.
async fn open_sessions(api: &Arc<Api>, prefix: &'static str, count: u64) -> Outcome {
    let api = api.clone();
    drive_count(
        count,
        step(move |n| {
            let api = api.clone();
            async move {
                let answer = api.post(&api.public, "/user-otp/v1/_send",
                    &json!({"otp": {"mobileNumber": format!("{prefix}{n:09}"), "tenantId": "pb", "type": "register"}})).await?;
                expect(&answer, 201, "send")
            }
        }),
    )
    .await
}

/// Opens `args.sessions` OTP sessions (distinct numbers, each with a live code) on a fresh service and reports
/// the resident memory they add. "Idle" is measured after a warm-up of 1,000 sessions (other numbers), so the
/// one-time costs of the first sends — code pages faulted in, allocator arenas, sled's first segments — are
/// not spread over the sessions as if each caused them.
pub async fn memory_sessions(args: &Args) -> Value {
    let service = Service::start(args.workers, args.journal.as_deref());
    let api = Arc::new(Api::new(&service));
    let warm = open_sessions(&api, "7", 1_000).await;
    assert_eq!(warm.errors, 0, "warm-up sends failed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = service.rss_bytes();
    let total = args.sessions as u64;
    let started = Instant::now();
    let o = open_sessions(&api, "6", total).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = service.rss_bytes();
    let per = (live.saturating_sub(idle)) as f64 / total as f64;
    println!(
        "{:<16} {total} live OTP sessions: resident {:.1} MB idle, {:.1} MB after, {:.0} bytes per session ({:.0}/s opened)",
        "memory_sessions",
        idle as f64 / 1e6,
        live as f64 / 1e6,
        per,
        total as f64 / started.elapsed().as_secs_f64()
    );
    json!({"scenario": "memory_sessions", "rps": round(total as f64 / started.elapsed().as_secs_f64()),
           "p50_ms": null, "p99_ms": null, "errors": o.errors, "baseline": "idle_rss",
           "baseline_rps": null, "ratio": null, "sessions": total,
           "idle_rss_bytes": idle, "rss_bytes": live, "bytes_per_session": per.round()})
}
