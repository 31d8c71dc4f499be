//! A broker outage with the journal on, on the real binary: the broker frozen (SIGSTOP) for 30 s under a
//! load of registrations, password logins and token checks. Writes answer only retryable 503s, each within
//! a bounded time (the produce timeout, twice at worst); password logins and `_details` keep answering (a login's session is kept on disk and
//! appended once the broker answers); a logout answers a retryable 503 in its E4 shape, its token and its
//! refresh token refused on the pod at once, and the client's retry after the thaw makes it; within seconds of SIGCONT every
//! write works again; and no acknowledged write is lost — not even when the pod's volume is lost afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::broker::Broker;
use crate::helpers::Process;
use crate::helpers::blocking::{create, details, login, post, refresh, try_create};
use crate::helpers::journal::journaled_env;

const PRODUCE_TIMEOUT: Duration = Duration::from_secs(2);
const FREEZE: Duration = Duration::from_secs(30);

/// One registration of the load: its name, status, answer and how long it took.
struct Registration {
    name: String,
    status: u16,
    body: Value,
    took: Duration,
}

#[test]
fn a_frozen_broker_stops_writes_with_retryable_503s_only_and_loses_nothing() {
    let broker = Broker::start();
    let mut env = journaled_env(&broker.address());
    env.insert(
        "DIGIT_USER__JOURNAL__PRODUCE_TIMEOUT_MS",
        PRODUCE_TIMEOUT.as_millis().to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let app = Process::start(dir.path(), &env).unwrap();
    assert!(app.wait_ready(Duration::from_secs(30)), "ready");
    create(&app.base, "EMP-A");
    let (_, before) = login(&app.base, "EMP-A", "Abcdef1@");
    let (_, leaving) = login(&app.base, "EMP-A", "Abcdef1@");
    let logout = |base: &str| {
        post(
            base,
            "/user/_logout",
            &serde_json::json!({"access_token": leaving["access_token"]}),
        )
    };

    // the load: registrations on one thread, token checks on another
    let stop = Arc::new(AtomicBool::new(false));
    let registrations = {
        let (stop, base) = (stop.clone(), app.base.clone());
        std::thread::spawn(move || {
            let mut done = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("LOAD-{i}");
                let started = Instant::now();
                let (status, body) = try_create(&base, &name);
                done.push(Registration {
                    name,
                    status,
                    body,
                    took: started.elapsed(),
                });
                std::thread::sleep(Duration::from_millis(20));
            }
            done
        })
    };
    let checks = {
        let (stop, base, token) = (
            stop.clone(),
            app.base.clone(),
            before["access_token"].clone(),
        );
        std::thread::spawn(move || {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                statuses.push(details(&base, &token));
                std::thread::sleep(Duration::from_millis(20));
            }
            statuses
        })
    };
    std::thread::sleep(Duration::from_secs(2));

    let broker_pid = Pid::from_raw(broker.pid());
    kill(broker_pid, Signal::SIGSTOP).unwrap();
    let frozen_at = Instant::now();
    // a logout cannot be published nor stored: a retryable 503 in the logout's own shape, the token
    // refused on this pod at once all the same
    let (status, body) = logout(&app.base);
    assert_eq!(status, 503, "a logout during the outage: {body}");
    assert_eq!(body["Error"]["code"], 503, "{body}");
    assert_eq!(body["ResponseInfo"]["status"], "Logout failed", "{body}");
    assert_ne!(details(&app.base, &leaving["access_token"]), 200);
    let (status, body) = refresh(&app.base, &leaving["refresh_token"]);
    assert_ne!(
        status, 200,
        "the family of a logout answered 503 rotates no more: {body}"
    );
    // password logins keep working through the outage
    let mut during = Vec::new();
    while frozen_at.elapsed() < FREEZE {
        let (status, body) = login(&app.base, "EMP-A", "Abcdef1@");
        assert_eq!(status, 200, "a password login during the outage: {body}");
        during.push(body);
        std::thread::sleep(Duration::from_secs(5));
    }
    kill(broker_pid, Signal::SIGCONT).unwrap();
    let thawed = Instant::now();
    // writes work again within seconds
    loop {
        let (status, body) = try_create(&app.base, "AFTER-THAW");
        if status == 200 {
            break;
        }
        assert!(
            thawed.elapsed() < Duration::from_secs(10),
            "writes did not resume: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let resumed = thawed.elapsed();
    // the client retries its logout: made now; a logout of the same token again is refused as before
    let (status, body) = logout(&app.base);
    assert_eq!(status, 200, "the logout retried after the thaw: {body}");
    assert_eq!(logout(&app.base).0, 400, "logged out already");
    // two upkeep rounds: the sessions kept behind are appended
    std::thread::sleep(Duration::from_secs(11));
    stop.store(true, Ordering::SeqCst);
    let registrations = registrations.join().unwrap();
    let checks = checks.join().unwrap();

    let refused: Vec<&Registration> = registrations.iter().filter(|r| r.status != 200).collect();
    assert!(!refused.is_empty(), "the outage was felt by writes");
    // the journal out of reach; or, once the brokers are back, the moment the pod takes its partitions
    // over again (the group lost this member during the outage and gives them back)
    for r in &refused {
        assert_eq!(r.status, 503, "{}: {}", r.name, r.body);
        let code = &r.body["Errors"][0]["code"];
        assert!(
            code == "JOURNAL_UNAVAILABLE" || code == "PARTITION_MOVING",
            "{}",
            r.body
        );
    }
    assert!(
        refused
            .iter()
            .any(|r| r.body["Errors"][0]["code"] == "JOURNAL_UNAVAILABLE"),
        "the outage itself refused writes"
    );
    let slowest = registrations.iter().map(|r| r.took).max().unwrap();
    // bounded: its own append, at most one of the partition's writer it queued behind, and — once the
    // brokers are back and the group gives the partitions back — the wait for their takeover
    // (cluster.owner_wait_ms, 2 s)
    assert!(
        slowest < PRODUCE_TIMEOUT * 2 + Duration::from_secs(4),
        "a write answered within the produce timeout: {slowest:?}"
    );
    assert!(
        checks.iter().all(|s| *s == 200),
        "_details answered throughout"
    );
    assert!(checks.len() > 100, "checked throughout: {}", checks.len());
    let acknowledged: Vec<&str> = registrations
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.name.as_str())
        .collect();
    eprintln!(
        "outage: {} registrations acknowledged, {} refused with 503, slowest {slowest:?}, writes resumed \
         {resumed:?} after SIGCONT, {} token checks",
        acknowledged.len(),
        refused.len(),
        checks.len()
    );

    // the volume is lost too: everything acknowledged is in the journal
    assert_eq!(app.stop(Signal::SIGKILL).code(), None);
    std::fs::remove_dir_all(dir.path()).unwrap();
    let app = Process::start(dir.path(), &env).unwrap();
    assert!(
        app.wait_ready(Duration::from_secs(60)),
        "ready after the restore"
    );
    // the killed run is still in the group until its session times out: its partitions answer a
    // retryable 503 until then
    for name in acknowledged.iter().copied().chain(["AFTER-THAW"]) {
        let (status, body) = retrying_503(|| login(&app.base, name, "Abcdef1@"));
        assert_eq!(status, 200, "{name} was acknowledged: {body}");
    }
    for session in &during {
        let (status, body) = retrying_503(|| refresh(&app.base, &session["refresh_token"]));
        assert_eq!(status, 200, "a session opened during the outage: {body}");
    }
    // the logout made by the retry is in the journal and on the revocations topic
    assert_ne!(details(&app.base, &leaving["access_token"]), 200);
    let (status, body) = refresh(&app.base, &leaving["refresh_token"]);
    assert_ne!(status, 200, "the logged-out family's refresh token: {body}");
}

/// `call` again while it answers a retryable 503, for 20 s at most; its last answer.
fn retrying_503(call: impl Fn() -> (u16, serde_json::Value)) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = call();
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
