//! `load`: digit-user's hot paths under load, each beside the baseline that bounds it, in one run on one
//! machine — so the ratios hold however fast or noisy the machine is.
//!
//! `cargo run --release --bin load -- --scenario all --duration 10s` prints a table and one JSON line per
//! scenario (`scenario, rps, p50_ms, p90_ms, p99_ms, max_ms, errors, concurrency, baseline, baseline_rps,
//! ratio`, and `bytes_per_session` for `memory_sessions`).

mod baseline;
mod service;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use service::{Api, Service, citizen_mobile, seed};

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "digit-user load generator")]
struct Args {
    /// `all`, or one of: details, search_uuid, otp_send, otp_validate, login_password, login_otp, refresh,
    /// mixed, memory_sessions.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// How long each scenario runs, e.g. `10s`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// digit-user HTTP workers (and the HTTP baseline's).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// OTP sessions opened by `memory_sessions`.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("bad duration {s}"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("bad duration unit in {s}")),
    }
}

/// One measured run.
struct Outcome {
    requests: u64,
    errors: u64,
    micros: Histogram<u64>,
    elapsed: Duration,
    first_error: Option<String>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn ms(&self, q: f64) -> f64 {
        self.micros.value_at_quantile(q) as f64 / 1000.0
    }
}

/// What a step returns to end its task (the work is done).
const STOP: &str = "\u{0}stop";

type Step =
    Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Runs `step` from `concurrency` tasks for `duration`; each call's latency is recorded.
async fn drive(concurrency: usize, duration: Duration, step: Step) -> Outcome {
    drive_paced(concurrency, duration, None, step).await
}

/// [`drive`] with each task pausing `pace` between calls (not counted in the latency).
async fn drive_paced(
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

fn expect(status: u16, want: u16, what: &str, body: &Value) -> Result<(), String> {
    if status == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: {status} {}",
            body.to_string().chars().take(200).collect::<String>()
        ))
    }
}

fn step<F, Fut>(f: F) -> Step
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |n| Box::pin(f(n)))
}

/// A report line: the human row and the JSON object.
fn report(
    scenario: &str,
    o: &Outcome,
    concurrency: usize,
    baseline: (&str, f64),
    extra: Value,
) -> Value {
    let ratio = if baseline.1 > 0.0 {
        o.rps() / baseline.1
    } else {
        0.0
    };
    println!(
        "{scenario:<16} {:>9.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {:>5}  \
         {:<16} {:>9.0}/s  ratio {:.2}",
        o.rps(),
        o.ms(0.5),
        o.ms(0.9),
        o.ms(0.99),
        o.micros.max() as f64 / 1000.0,
        o.errors,
        baseline.0,
        baseline.1,
        ratio
    );
    if let Some(e) = &o.first_error {
        println!("{:<16} first error: {e}", "");
    }
    let mut line = json!({
        "scenario": scenario, "rps": round(o.rps()), "p50_ms": round(o.ms(0.5)), "p90_ms": round(o.ms(0.9)),
        "p99_ms": round(o.ms(0.99)), "max_ms": round(o.micros.max() as f64 / 1000.0), "errors": o.errors,
        "concurrency": concurrency, "baseline": baseline.0, "baseline_rps": round(baseline.1),
        "ratio": round(ratio),
    });
    if let (Value::Object(line), Value::Object(extra)) = (&mut line, extra) {
        line.extend(extra);
    }
    line
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The baselines, measured once per run.
struct Baselines {
    http: f64,
    argon2: f64,
    fsync: f64,
}

const ALL: [&str; 9] = [
    "details",
    "search_uuid",
    "otp_send",
    "otp_validate",
    "login_password",
    "login_otp",
    "refresh",
    "mixed",
    "memory_sessions",
];

fn main() {
    let args = Args::parse();
    let scenarios: Vec<&str> = if args.scenario == "all" {
        ALL.to_vec()
    } else {
        args.scenario.split(',').collect()
    };
    if let Some(bad) = scenarios.iter().find(|s| !ALL.contains(s)) {
        eprintln!("error: unknown scenario {bad}; one of {}", ALL.join(", "));
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .unwrap();
    let lines = runtime.block_on(run(&args, &scenarios));
    println!();
    for line in lines {
        println!("{line}");
    }
}

async fn run(args: &Args, scenarios: &[&str]) -> Vec<Value> {
    let d = args.duration;
    let c = args.concurrency;
    let service = Service::start(args.workers);
    let api = Arc::new(Api::new(&service));
    let employees = 64;
    let uuids = Arc::new(seed(&api, employees, 64).await);
    // one logged-in session for the token scenarios
    let (_, login) = api.login_employee(0).await.unwrap();
    let access = login["access_token"].as_str().unwrap().to_owned();
    let details_len = api.details(&access).await.unwrap();

    println!("measuring baselines ...");
    let (http_url, http_handle) = baseline::http_server(args.workers, details_len);
    // the same request line as `details` (its ~600-byte query string included): only the handler differs
    let http_url = format!("{http_url}/user/_details?access_token={access}");
    let http_client = api.client.clone();
    let http_step = step(move |_| {
        let (client, url) = (http_client.clone(), http_url.clone());
        async move {
            let resp = client.post(&url).send().await.map_err(|e| e.to_string())?;
            resp.bytes().await.map_err(|e| e.to_string()).map(drop)
        }
    });
    let http = drive(c, d, http_step).await;
    http_handle.stop(true).await;
    let base = Baselines {
        http: http.rps(),
        argon2: tokio::task::spawn_blocking(move || {
            baseline::argon2_per_sec(2, d.min(Duration::from_secs(5)))
        })
        .await
        .unwrap(),
        fsync: tokio::task::spawn_blocking(move || {
            baseline::fsync_per_sec(700, d.min(Duration::from_secs(5)))
        })
        .await
        .unwrap(),
    };
    println!(
        "baseline_http {:.0} req/s (p99 {:.2} ms, {details_len}-byte body), baseline_argon2 {:.1}/s, baseline_fsync {:.0}/s\n",
        base.http,
        http.ms(0.99),
        base.argon2,
        base.fsync
    );

    let mut lines = Vec::new();
    let mut details_p99 = None;
    for scenario in scenarios {
        let api2 = api.clone();
        let line = match *scenario {
            "details" => {
                let token = access.clone();
                let o = drive(
                    c,
                    d,
                    step(move |_| {
                        let (api, token) = (api2.clone(), token.clone());
                        async move { api.details(&token).await.map(drop) }
                    }),
                )
                .await;
                details_p99 = Some(o.ms(0.99));
                report(scenario, &o, c, ("baseline_http", base.http), json!({}))
            }
            "search_uuid" => {
                let uuids = uuids.clone();
                let o = drive(
                    c,
                    d,
                    step(move |n| {
                        let (api, uuid) = (api2.clone(), uuids[n as usize % uuids.len()].clone());
                        async move {
                            let (status, body) = api
                                .post(
                                    &api.public,
                                    "/user/_search",
                                    &json!({"uuid": [uuid], "tenantId": "pb.amritsar"}),
                                )
                                .await?;
                            expect(status, 200, "search", &body)
                        }
                    }),
                )
                .await;
                report(scenario, &o, c, ("baseline_http", base.http), json!({}))
            }
            "otp_send" => {
                let o = drive(c, d, step(move |n| {
                    let api = api2.clone();
                    async move {
                        let mobile = format!("8{:09}", n);
                        let (status, body) = api.post(&api.public, "/user-otp/v1/_send",
                            &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}})).await?;
                        expect(status, 201, "send", &body)
                    }
                })).await;
                report(scenario, &o, c, ("baseline_fsync", base.fsync), json!({}))
            }
            "otp_validate" => {
                let o = drive(c, d, step(move |n| {
                    let api = api2.clone();
                    async move {
                        let mobile = format!("6{:09}", n);
                        let code = api.create_code(&mobile).await?;
                        let (status, body) = api.post(&api.public, "/otp/v1/_validate",
                            &json!({"otp": {"otp": code, "identity": mobile, "tenantId": "pb"}})).await?;
                        expect(status, 200, "validate", &body)
                    }
                })).await;
                report(
                    scenario,
                    &o,
                    c,
                    ("baseline_fsync", base.fsync),
                    json!({"note": "each step = _create + _validate"}),
                )
            }
            "login_password" => {
                // the hasher's ceiling again, right before: this machine's speed drifts over a run (the start's
                // figure varied 60-87/s between runs), and a ratio is only fair against its neighbour in time
                let argon2 = tokio::task::spawn_blocking(move || {
                    baseline::argon2_per_sec(2, d.min(Duration::from_secs(5)))
                })
                .await
                .unwrap();
                // logins saturate the hasher; meanwhile a light details probe shows whether the rest starves
                let probe_token = access.clone();
                let probe_api = api.clone();
                // paced (about 200 requests/s in all): the probe watches, it does not load
                let probe = tokio::spawn(drive_paced(
                    4,
                    d,
                    Some(Duration::from_millis(20)),
                    step(move |_| {
                        let (api, token) = (probe_api.clone(), probe_token.clone());
                        async move { api.details(&token).await.map(drop) }
                    }),
                ));
                let o = drive(
                    c,
                    d,
                    step(move |n| {
                        let api = api2.clone();
                        async move {
                            let (status, body) = api.login_employee(n as usize % employees).await?;
                            expect(status, 200, "login", &body)
                        }
                    }),
                )
                .await;
                let probe = probe.await.unwrap();
                report(
                    scenario,
                    &o,
                    c,
                    ("baseline_argon2", argon2),
                    json!({
                        "details_p99_during_ms": round(probe.ms(0.99)),
                        "details_p99_alone_ms": details_p99.map(round),
                    }),
                )
            }
            "login_otp" => {
                let o = drive(
                    c,
                    d,
                    step(move |n| {
                        let api = api2.clone();
                        async move {
                            let mobile = citizen_mobile(n as usize % 64);
                            let code = service::TEST_CODE;
                            let (status, body) = api
                                .token(&[
                                    ("grant_type", "password"),
                                    ("username", &mobile),
                                    ("password", code),
                                    ("tenantId", "pb"),
                                    ("userType", "CITIZEN"),
                                ])
                                .await?;
                            expect(status, 200, "otp login", &body)
                        }
                    }),
                )
                .await;
                report(
                    scenario,
                    &o,
                    c,
                    ("baseline_fsync", base.fsync),
                    json!({"note": "citizens are test numbers (fixed code): the OTP login path without reading SMS"}),
                )
            }
            "refresh" => {
                // one family per task, each refreshed in turn with the token the last refresh returned
                let mut families = Vec::new();
                for i in 0..c {
                    let (_, l) = api.login_employee(i % employees).await.unwrap();
                    families.push(tokio::sync::Mutex::new(
                        l["refresh_token"].as_str().unwrap().to_owned(),
                    ));
                }
                let families = Arc::new(families);
                let o = drive(
                    c,
                    d,
                    step(move |n| {
                        let (api, families) = (api2.clone(), families.clone());
                        async move {
                            let mut token = families[n as usize % families.len()].lock().await;
                            let (status, body) = api
                                .token(&[
                                    ("grant_type", "refresh_token"),
                                    ("refresh_token", token.as_str()),
                                ])
                                .await?;
                            expect(status, 200, "refresh", &body)?;
                            *token = body["refresh_token"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned();
                            Ok(())
                        }
                    }),
                )
                .await;
                report(
                    scenario,
                    &o,
                    c,
                    ("baseline_fsync", base.fsync),
                    json!({"note": "each refresh: one transaction and flush"}),
                )
            }
            "mixed" => {
                let (token, uuids) = (access.clone(), uuids.clone());
                let o = drive(c, d, step(move |n| {
                    let (api, token, uuids) = (api2.clone(), token.clone(), uuids.clone());
                    async move {
                        match n % 1000 {
                            0..800 => api.details(&token).await.map(drop),
                            800..900 => {
                                let (status, body) = api.post(&api.public, "/user/_search",
                                    &json!({"uuid": [uuids[n as usize % uuids.len()]], "tenantId": "pb.amritsar"})).await?;
                                expect(status, 200, "search", &body)
                            }
                            900..902 => {
                                let (status, body) = api.login_employee(n as usize % employees).await?;
                                expect(status, 200, "login", &body)
                            }
                            _ => {
                                let (status, body) = api.post(&api.public, "/user-otp/v1/_send",
                                    &json!({"otp": {"mobileNumber": format!("9{:09}", n), "tenantId": "pb", "type": "register"}})).await?;
                                expect(status, 201, "send", &body)
                            }
                        }
                    }
                })).await;
                report(
                    scenario,
                    &o,
                    c,
                    ("baseline_http", base.http),
                    json!({"mix": "80% details, 10% search by uuid, 0.2% password login, 9.8% otp send"}),
                )
            }
            "memory_sessions" => memory_sessions(args).await,
            _ => unreachable!(),
        };
        lines.push(line);
    }
    drop(service);
    lines
}

/// Sends a register OTP to `count` distinct numbers starting with `prefix`, 64 at a time.
async fn open_sessions(api: &Arc<Api>, prefix: &'static str, count: u64) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let api = api.clone();
    drive(
        64,
        Duration::from_secs(3600),
        step(move |_| {
            let (api, next) = (api.clone(), next.clone());
            async move {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Err(STOP.to_owned());
                }
                let (status, body) = api.post(&api.public, "/user-otp/v1/_send",
                    &json!({"otp": {"mobileNumber": format!("{prefix}{n:09}"), "tenantId": "pb", "type": "register"}})).await?;
                expect(status, 201, "send", &body)
            }
        }),
    )
    .await
}

/// Opens `args.sessions` OTP sessions (distinct numbers, each with a live code) on a fresh service and reports
/// the resident memory they add. "Idle" is measured after a warm-up of 1,000 sessions (other numbers), so the
/// one-time costs of the first sends — code pages faulted in, allocator arenas, sled's first segments — are
/// not spread over the sessions as if each caused them.
async fn memory_sessions(args: &Args) -> Value {
    let service = Service::start(args.workers);
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
