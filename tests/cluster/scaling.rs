//! Scaling by starting and stopping processes, and a rolling restart, under a
//! read load through every running pod. Users, a lockout, a refresh family and a live OTP code are all still
//! there afterwards; no answer during the moves is wrong; the retryable 503s are counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::ask::{uuids, wait_code};
use crate::failover::{all_found, post_retrying, spread_over};
use crate::node::{LocalCluster, employee, employee_login, post, token};

/// What the load saw.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    unavailable: AtomicU64,
    wrong: AtomicU64,
}

/// A search by userName; `None` when the pod does not answer at all (stopped).
fn try_search(base: &str, name: &str) -> Option<(u16, Value)> {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/user/v1/_search"))
        .json(&json!({"userName": name, "tenantId": "pb.amritsar"}))
        .timeout(Duration::from_secs(10))
        .send()
        .ok()?;
    let code = resp.status().as_u16();
    Some((code, resp.json().unwrap_or(Value::Null)))
}

/// Searches every user by userName through the pods in `bases`, round robin, until `stop`.
fn read_load(
    bases: Vec<String>,
    users: Vec<(String, String)>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let (name, uuid) = &users[i % users.len()];
            let base = &bases[i % bases.len()];
            i += 1;
            let Some((code, body)) = try_search(base, name) else {
                continue; // a pod that is down refuses the connection: the client tries another
            };
            tally.requests.fetch_add(1, Ordering::SeqCst);
            match code {
                200 if uuids(&body) == vec![uuid.clone()] => {}
                503 => {
                    tally.unavailable.fetch_add(1, Ordering::SeqCst);
                }
                _ => {
                    eprintln!("wrong answer from {base} for {name}: {code} {body}");
                    tally.wrong.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    })
}

/// Lists every user through the pods in `bases`, round robin, until `stop`: a search without a userName
/// asks every pod, and a 200 must hold every user — a partition moving while the legs ran must not drop
/// its users from the page.
fn fan_out_load(
    bases: Vec<String>,
    users: &[(String, String)],
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> std::thread::JoinHandle<()> {
    let mut all: Vec<String> = users.iter().map(|(_, uuid)| uuid.clone()).collect();
    all.sort_unstable();
    std::thread::spawn(move || {
        let http = reqwest::blocking::Client::new();
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let base = &bases[i % bases.len()];
            i += 1;
            let Ok(resp) = http
                .post(format!("{base}/user/v1/_search"))
                .json(
                    &json!({"tenantId": "pb.amritsar", "roleCodes": ["EMPLOYEE"], "pageSize": 100}),
                )
                .timeout(Duration::from_secs(10))
                .send()
            else {
                continue;
            };
            let code = resp.status().as_u16();
            let body: Value = resp.json().unwrap_or(Value::Null);
            tally.requests.fetch_add(1, Ordering::SeqCst);
            let mut found = uuids(&body);
            found.sort_unstable();
            match code {
                200 if found == all => {}
                503 => {
                    tally.unavailable.fetch_add(1, Ordering::SeqCst);
                }
                _ => {
                    eprintln!(
                        "wrong fan-out answer from {base}: {code}, {} of {} users",
                        found.len(),
                        all.len()
                    );
                    tally.wrong.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    })
}

#[test]
fn scaling_three_four_two_and_a_rolling_restart_keep_everything_and_answer_nothing_wrong() {
    let mut c = LocalCluster::start(3, 1);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let base = |c: &LocalCluster, o: usize| c.nodes[o].base.clone();

    // users, one locked, one with a rotated refresh family, a citizen with a live OTP code
    let mut users = Vec::new();
    for i in 0..12 {
        let name = format!("SCALEUSER{i:02}");
        let (code, body, _) = post_retrying(
            &format!("{}/user/users/_createnovalidate", base(&c, i % 3)),
            &json!({"RequestInfo": {}, "user": employee(&name, &format!("98765011{i:02}"))}),
        );
        assert_eq!(code, 200, "{body}");
        users.push((name, body["user"][0]["uuid"].as_str().unwrap().to_owned()));
    }
    // failures from an address the user logs in from lock the account
    assert_eq!(
        employee_login(&base(&c, 0), &users[0].0, "Asha@12345").0,
        200
    );
    for _ in 0..5 {
        employee_login(&base(&c, 0), &users[0].0, "Wrong@12345");
    }
    let (_, locked) = employee_login(&base(&c, 1), &users[0].0, "Asha@12345");
    assert_eq!(locked["error_description"], "Account locked");
    let (code, session) = employee_login(&base(&c, 2), &users[1].0, "Asha@12345");
    assert_eq!(code, 200, "{session}");
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let mobile = "9123400051";
    let (code, body) = post(
        &format!("{}/user-otp/v1/_send", base(&c, 0)),
        &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}),
    );
    assert_eq!(code, 201, "{body}");
    let otp = wait_code(&c, mobile, None);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let bases: Vec<String> = (0..4).map(|o| base(&c, o)).collect();
    let load = read_load(bases.clone(), users.clone(), stop.clone(), tally.clone());
    let listed = Arc::new(Tally::default());
    let lists = fan_out_load(bases, &users, stop.clone(), listed.clone());

    // 3 → 4: a process joins and gets its share
    c.start_node(3);
    spread_over(&c, &[0, 1, 2, 3], Duration::from_secs(60));
    // 4 → 2: two leave with SIGTERM, one after the other
    c.stop(3);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    c.stop(2);
    spread_over(&c, &[0, 1], Duration::from_secs(60));
    // a rolling restart of what is left
    for pod in [0, 1] {
        c.stop(pod);
        let other = 1 - pod;
        spread_over(&c, &[other], Duration::from_secs(60));
        c.start_node(pod);
        spread_over(&c, &[0, 1], Duration::from_secs(60));
    }
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    lists.join().unwrap();

    let requests = tally.requests.load(Ordering::SeqCst);
    let unavailable = tally.unavailable.load(Ordering::SeqCst);
    eprintln!(
        "moves under load: {requests} searches, {unavailable} retryable 503s ({:.3} %), {} wrong",
        100.0 * unavailable as f64 / requests.max(1) as f64,
        tally.wrong.load(Ordering::SeqCst)
    );
    assert!(requests > 100, "the load ran: {requests}");
    assert_eq!(tally.wrong.load(Ordering::SeqCst), 0, "no wrong answer");
    let (lists, listed_503) = (
        listed.requests.load(Ordering::SeqCst),
        listed.unavailable.load(Ordering::SeqCst),
    );
    eprintln!("fan-out lists under the moves: {lists}, {listed_503} retryable 503s");
    assert!(lists > 20, "the fan-out load ran: {lists}");
    assert_eq!(
        listed.wrong.load(Ordering::SeqCst),
        0,
        "no list missing a user"
    );
    // measured 0.23 % on tansu (target 0.1 %: its group takes seconds to reassign); room for a loaded CI
    assert!(
        unavailable * 100 <= requests * 2,
        "retryable 503s: {unavailable} of {requests}"
    );

    // everything is still there, through either pod
    for o in [0, 1] {
        assert!(all_found(&base(&c, o), &users), "users through pod {o}");
    }
    let (_, locked) = employee_login(&base(&c, 1), &users[0].0, "Asha@12345");
    assert_eq!(locked["error_description"], "Account locked", "the lock");
    let (code, refreshed) = token(
        &base(&c, 0),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!(code, 200, "the refresh family: {refreshed}");
    let (code, body) = post(
        &format!("{}/otp/v1/_validate", base(&c, 1)),
        &json!({"otp": {"otp": otp, "identity": mobile, "tenantId": "pb"}}),
    );
    assert_eq!(code, 200, "the live OTP code: {body}");
}
