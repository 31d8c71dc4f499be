//! The generator's own ceiling: its client against the bare server, in turns with `wrk` against the same
//! server (three rounds each, so both see the machine in the same seconds — its speed drifts within seconds).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::drive::{Outcome, drive, expect, step};
use crate::report::round;
use crate::wire::Client;
use crate::wrk::{self, WrkRun};

/// The bare server at `url` (`base_url` + `path`) driven by the generator and by `wrk` in turns for `duration`
/// each in all: the generator's outcome (its rounds together) and `wrk`'s (`None` without `wrk`).
pub async fn measure(
    url: &str,
    path: &str,
    concurrency: usize,
    threads: usize,
    duration: Duration,
) -> (Outcome, Option<WrkRun>) {
    let base = &url[..url.len() - path.len()];
    let bare = Arc::new(Client::new(base));
    let turn = Duration::from_secs((duration.as_secs() / 3).max(1));
    let mut ours: Option<Outcome> = None;
    let mut theirs = Vec::new();
    for _ in 0..3 {
        let (bare, path) = (bare.clone(), path.to_owned());
        let round = drive(
            concurrency,
            turn,
            step(move |_| {
                let (bare, path) = (bare.clone(), path.clone());
                async move {
                    let answer = bare
                        .send("POST", &path, &[], b"")
                        .await
                        .map_err(|e| e.to_string())?;
                    expect(&answer, 200, "bare http")
                }
            }),
        )
        .await;
        ours = Some(match ours {
            None => round,
            Some(so_far) => so_far.merged(round),
        });
        let url = url.to_owned();
        let run = tokio::task::spawn_blocking(move || wrk::post(&url, concurrency, threads, turn))
            .await
            .unwrap();
        theirs.extend(run);
    }
    let wrk = (theirs.len() == 3).then(|| WrkRun {
        rps: theirs.iter().map(|r| r.rps).sum::<f64>() / 3.0,
        p99_ms: theirs.iter().map(|r| r.p99_ms).fold(0.0, f64::max),
    });
    (ours.expect("three rounds"), wrk)
}

/// The generator's own ceiling — its client against the bare server — beside `wrk`'s on the same server
/// (when installed): the first line of every run, so a reader sees whether an HTTP-bound ratio measures
/// the service or the client.
pub fn client_ceiling(http: &Outcome, wrk: Option<WrkRun>, concurrency: usize) -> Value {
    let of_wrk = wrk.map(|w| http.rps() / w.rps);
    match (wrk, of_wrk) {
        (Some(w), Some(share)) => {
            println!(
                "client ceiling: {:.0} req/s (p99 {:.2} ms) against the bare server; wrk {:.0} req/s (p99 {:.2} ms): {:.2} of wrk{}",
                http.rps(),
                http.ms(0.99),
                w.rps,
                w.p99_ms,
                share,
                if share < 0.9 {
                    " — below 0.9: HTTP-bound ratios are flattered"
                } else {
                    ""
                }
            )
        }
        _ => println!(
            "client ceiling: {:.0} req/s (p99 {:.2} ms) against the bare server; wrk not installed, no comparison",
            http.rps(),
            http.ms(0.99)
        ),
    }
    json!({"scenario": "client_ceiling", "rps": round(http.rps()), "p99_ms": round(http.ms(0.99)),
           "errors": http.errors, "concurrency": concurrency, "baseline": "wrk",
           "baseline_rps": wrk.map(|w| round(w.rps)), "ratio": of_wrk.map(round)})
}
