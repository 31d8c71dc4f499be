//! `load`: digit-user's hot paths under load, each beside the baseline that bounds it, in one run on one
//! machine — so the ratios hold however fast or noisy the machine is.
//!
//! `cargo run --release --bin load -- --scenario all --duration 10s` prints a table and one JSON line per
//! scenario (`scenario, rps, p50_ms, p90_ms, p99_ms, max_ms, errors, concurrency, baseline, baseline_rps,
//! ratio`, and `bytes_per_session` for `memory_sessions`).

mod baseline;
mod ceiling;
mod drive;
mod memory;
mod pages;
mod refresh;
mod report;
mod restore;
mod service;
mod uniform;
mod wire;
mod wrk;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

use ceiling::client_ceiling;
use drive::{drive, drive_paced, expect, step};
use memory::memory_sessions;
use report::{report, round, round3};
use service::{Api, Service, citizen_mobile, cpu_ms, seed};

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "digit-user load generator")]
struct Args {
    /// `all`, or one of: details, search_uuid, otp_send, create_user, otp_validate, login_password, login_otp, refresh,
    /// mixed, big_pages, memory_sessions; and, named only: restore (with `--journal`), uniform (a service of its own
    /// with `security.uniform_answers` on: known vs unknown accounts' medians).
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
    /// Users created before the volume is lost in `restore`.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Kafka brokers: run digit-user with the journal on them (its keys supplied, 16 partitions,
    /// replication 1 — a one-broker tansu). Every JSON line then says `"journal": true`.
    #[arg(long)]
    journal: Option<String>,
    /// The broker's process id (with `--journal`, a broker on this machine): each write scenario then
    /// also reports the broker's CPU time per request.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// `uniform` only: `security.answer_floor_ms` (default: the service's own, 400); 0 shows what the floor
    /// hides.
    #[arg(long)]
    floor_ms: Option<u64>,
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

/// The baselines, measured once per run.
struct Baselines {
    http: f64,
    argon2: f64,
    fsync: f64,
}

const ALL: [&str; 11] = [
    "details",
    "search_uuid",
    "otp_send",
    "create_user",
    "otp_validate",
    "login_password",
    "login_otp",
    "refresh",
    "mixed",
    "big_pages",
    "memory_sessions",
];

/// The scenarios named only, each alone.
const ALONE: [&str; 2] = ["restore", "uniform"];

fn main() {
    let args = Args::parse();
    let scenarios: Vec<&str> = if args.scenario == "all" {
        ALL.to_vec()
    } else {
        args.scenario.split(',').collect()
    };
    if let Some(bad) = scenarios
        .iter()
        .find(|s| !ALL.contains(s) && !ALONE.contains(s))
    {
        eprintln!(
            "error: unknown scenario {bad}; one of {}, restore, uniform",
            ALL.join(", ")
        );
        std::process::exit(2);
    }
    if scenarios.iter().any(|s| ALONE.contains(s)) && scenarios.len() > 1 {
        eprintln!("error: restore and uniform run alone (each runs a service of its own)");
        std::process::exit(2);
    }
    if scenarios.contains(&"uniform") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()
            .unwrap();
        let lines = runtime.block_on(uniform::uniform(
            args.workers,
            args.concurrency,
            args.duration,
            args.floor_ms,
        ));
        println!();
        for line in lines {
            println!("{line}");
        }
        return;
    }
    if scenarios.contains(&"restore") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()
            .unwrap();
        let line = runtime.block_on(restore::restore(&args));
        println!("\n{line}");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .unwrap();
    let lines = runtime.block_on(run(&args, &scenarios));
    println!();
    for mut line in lines {
        if let Value::Object(fields) = &mut line {
            fields.insert("journal".into(), Value::Bool(args.journal.is_some()));
        }
        println!("{line}");
    }
}

async fn run(args: &Args, scenarios: &[&str]) -> Vec<Value> {
    let d = args.duration;
    let c = args.concurrency;
    let service = Service::start(args.workers, args.journal.as_deref());
    let api = Arc::new(Api::new(&service));
    let employees = 64;
    let uuids = Arc::new(seed(&api, employees, 64).await);
    // one logged-in session for the token scenarios
    let login = api.login_employee(0).await.unwrap().json();
    let access = login["access_token"].as_str().unwrap().to_owned();
    let details_len = api.details(&access).await.unwrap();

    println!("measuring baselines ...");
    let (http_url, http_handle) = baseline::http_server(args.workers, details_len);
    // the same request line as `details` (the gateway's: its query string included): only the handler differs
    let details_path = format!("/user/_details?access_token={access}");
    let bare_url = format!("{http_url}{details_path}");
    let (http, wrk_bare) = ceiling::measure(&bare_url, &details_path, c, args.workers, d).await;
    let ceiling = client_ceiling(&http, wrk_bare, c);
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

    let mut lines = vec![ceiling];
    let mut details_p99 = None;
    for scenario in scenarios {
        let api2 = api.clone();
        let cpu = |pid: Option<u32>| pid.and_then(cpu_ms);
        let cpu_before = (cpu(Some(service.pid())), cpu(args.broker_pid));
        let mut line = match *scenario {
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
                // and driven by wrk, in turns with the bare server (this machine's speed drifts within
                // seconds: a ratio is only fair against its neighbour in time)
                let url = format!("{}{details_path}", api.public);
                let bare = format!("{http_url}{details_path}");
                let threads = args.workers;
                let by_wrk =
                    tokio::task::spawn_blocking(move || wrk::in_turns(&url, &bare, c, threads, d))
                        .await
                        .unwrap();
                let extra = match by_wrk {
                    Some((w, b)) => {
                        println!(
                            "{:<16} {:>9.0} req/s  p99 {:>7.2} ms under wrk; bare http under wrk in turns {:>9.0}/s (p99 {:.2} ms)  ratio {:.2}",
                            "details (wrk)",
                            w.rps,
                            w.p99_ms,
                            b.rps,
                            b.p99_ms,
                            w.rps / b.rps
                        );
                        json!({"wrk_rps": round(w.rps), "wrk_p99_ms": round(w.p99_ms),
                               "wrk_baseline_rps": round(b.rps), "wrk_baseline_p99_ms": round(b.p99_ms),
                               "wrk_ratio": round(w.rps / b.rps)})
                    }
                    None => json!({}),
                };
                report(scenario, &o, c, ("baseline_http", base.http), extra)
            }
            "search_uuid" => {
                let uuids = uuids.clone();
                let o = drive(
                    c,
                    d,
                    step(move |n| {
                        let (api, uuid) = (api2.clone(), uuids[n as usize % uuids.len()].clone());
                        async move {
                            let answer = api
                                .post(
                                    &api.public,
                                    "/user/_search",
                                    &json!({"uuid": [uuid], "tenantId": "pb.amritsar"}),
                                )
                                .await?;
                            expect(&answer, 200, "search")
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
                        let answer = api.post(&api.public, "/user-otp/v1/_send",
                            &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}})).await?;
                        expect(&answer, 201, "send")
                    }
                })).await;
                report(scenario, &o, c, ("baseline_fsync", base.fsync), json!({}))
            }
            "create_user" => {
                // no password: a write of the user, its index entries and nothing for argon2
                let o = drive(c, d, step(move |n| {
                    let api = api2.clone();
                    async move {
                        let answer = api.post(&api.public, "/user/users/_createnovalidate",
                            &json!({"user": {"userName": format!("LOAD-{n}"), "name": "Load User",
                                "mobileNumber": "9876543210", "type": "EMPLOYEE", "tenantId": "pb.amritsar",
                                "active": true, "roles": [{"code": "EMPLOYEE"}]}})).await?;
                        expect(&answer, 200, "create")
                    }
                })).await;
                report(
                    scenario,
                    &o,
                    c,
                    ("baseline_fsync", base.fsync),
                    json!({"note": "employees without a password: user, index entries, one flush"}),
                )
            }
            "otp_validate" => {
                let o = drive(c, d, step(move |n| {
                    let api = api2.clone();
                    async move {
                        let mobile = format!("6{:09}", n);
                        let code = api.create_code(&mobile).await?;
                        let answer = api.post(&api.public, "/otp/v1/_validate",
                            &json!({"otp": {"otp": code, "identity": mobile, "tenantId": "pb"}})).await?;
                        expect(&answer, 200, "validate")
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
                            let answer = api.login_employee(n as usize % employees).await?;
                            expect(&answer, 200, "login")
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
                            let answer = api
                                .token(&[
                                    ("grant_type", "password"),
                                    ("username", &mobile),
                                    ("password", code),
                                    ("tenantId", "pb"),
                                    ("userType", "CITIZEN"),
                                ])
                                .await?;
                            expect(&answer, 200, "otp login")
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
                let o = refresh::refresh(&api2, c, d, employees).await;
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
                                let answer = api.post(&api.public, "/user/_search",
                                    &json!({"uuid": [uuids[n as usize % uuids.len()]], "tenantId": "pb.amritsar"})).await?;
                                expect(&answer, 200, "search")
                            }
                            900..902 => {
                                let answer = api.login_employee(n as usize % employees).await?;
                                expect(&answer, 200, "login")
                            }
                            _ => {
                                let answer = api.post(&api.public, "/user-otp/v1/_send",
                                    &json!({"otp": {"mobileNumber": format!("9{:09}", n), "tenantId": "pb", "type": "register"}})).await?;
                                expect(&answer, 201, "send")
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
            "big_pages" => {
                pages::seed(&api2).await;
                pages::big_pages(&api2, &access, c, d).await
            }
            "memory_sessions" => memory_sessions(args).await,
            _ => unreachable!(),
        };
        // the two with a set-up of their own in their time: no per-request figure
        if !matches!(*scenario, "memory_sessions" | "big_pages") {
            let requests = line["rps"].as_f64().unwrap_or(0.0) * d.as_secs_f64();
            let per_request = |before: Option<f64>, pid: Option<u32>| {
                Some((cpu(pid)? - before?) / requests.max(1.0))
            };
            let service_ms = per_request(cpu_before.0, Some(service.pid()));
            let broker_ms = per_request(cpu_before.1, args.broker_pid);
            if let Some(ms) = service_ms {
                print!("{:<16} CPU per request: service {ms:.3} ms", "");
                match broker_ms {
                    Some(b) => println!(", broker {b:.3} ms"),
                    None => println!(),
                }
            }
            if let Value::Object(fields) = &mut line {
                fields.insert("service_cpu_ms".into(), json!(service_ms.map(round3)));
                fields.insert("broker_cpu_ms".into(), json!(broker_ms.map(round3)));
            }
        }
        lines.push(line);
    }
    http_handle.stop(true).await;
    drop(service);
    lines
}
