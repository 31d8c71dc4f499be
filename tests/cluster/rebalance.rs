//! `admin rebalance` 3 → 4 → 2 under a light read load: no user, lockout or refresh family lost, no request
//! answered wrongly (retryable 503s are allowed and counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::node::{LocalCluster, employee, employee_login, post, token};

fn status_of(c: &LocalCluster, pod: usize) -> Value {
    let (status, body) = post(
        &format!("{}/cluster/status", c.nodes[pod].internal),
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// Reads users through random pods until told to stop; counts right answers, retryable 503s and wrong ones.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    retry: Arc<AtomicUsize>,
    wrong: Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(bases: Vec<String>, users: Vec<(String, String)>) -> Self {
        let (stop, ok, retry) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let wrong = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, o, r, w) = (stop.clone(), ok.clone(), retry.clone(), wrong.clone());
        let thread = std::thread::spawn(move || {
            let mut i = 0usize;
            while !s.load(Ordering::SeqCst) {
                i += 1;
                let (name, uuid) = &users[i * 7 % users.len()];
                let base = &bases[i % bases.len()];
                let (status, body) = post(
                    &format!("{base}/user/v1/_search"),
                    &json!({"userName": name, "tenantId": "pb.amritsar"}),
                );
                match status {
                    200 if body["user"].as_array().map(Vec::len) == Some(1)
                        && body["user"][0]["uuid"] == uuid.as_str() =>
                    {
                        o.fetch_add(1, Ordering::SeqCst);
                    }
                    503 if body["Errors"][0]["code"].is_string() => {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => w
                        .lock()
                        .unwrap()
                        .push(format!("{name} via {base}: {status} {body}")),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self {
            stop,
            ok,
            retry,
            wrong,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        (
            self.ok.load(Ordering::SeqCst),
            self.retry.load(Ordering::SeqCst),
            self.wrong.lock().unwrap().clone(),
        )
    }
}

fn counts_line(out: &str, label: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in {out}"))
        .trim_start_matches(label)
        .to_owned()
}

#[test]
fn rebalance_three_to_four_to_two_loses_nothing() {
    let c = LocalCluster::start(3, 1);
    let bases: Vec<String> = c.nodes.iter().map(|n| n.base.clone()).collect();
    let mut users = Vec::new();
    for i in 0..60 {
        let name = format!("MOVEUSER{i:02}");
        let (status, body) = post(
            &format!("{}/user/users/_createnovalidate", bases[i % 3]),
            &json!({"user": employee(&name, "9876500000")}),
        );
        assert_eq!(status, 200, "{body}");
        users.push((name, body["user"][0]["uuid"].as_str().unwrap().to_owned()));
    }
    // refresh families for ten users, a lock for two
    let mut refresh = Vec::new();
    for (name, _) in users.iter().take(10) {
        let (status, s) = employee_login(&bases[0], name, "Asha@12345");
        assert_eq!(status, 200, "{s}");
        refresh.push(s["refresh_token"].as_str().unwrap().to_owned());
    }
    let locked: Vec<&String> = users[10..12].iter().map(|(n, _)| n).collect();
    for name in &locked {
        for _ in 0..5 {
            employee_login(&bases[1], name, "Wrong@0000");
        }
        let (status, body) = employee_login(&bases[2], name, "Asha@12345");
        assert_eq!(status, 400, "locked: {body}");
    }

    // --plan moves nothing and prints the final map
    let (ok, out, err) = c.admin(&["rebalance", "--to-replicas", "4", "--plan"]);
    assert!(ok, "{out}\n{err}");
    let plan: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (plan["replicas"].as_u64(), plan["version"].as_u64()),
        (Some(4), Some(1)),
        "{out}"
    );
    assert!(out.contains("partitions move"), "{out}");
    assert_eq!(
        status_of(&c, 0)["map"]["version"],
        0,
        "a plan changes nothing"
    );

    let load = Load::start(bases.clone(), users.clone());
    let (ok, out, err) = c.admin(&["rebalance", "--to-replicas", "4", "--batch", "16"]);
    assert!(ok, "rebalance to 4 failed: {out}\n{err}");
    eprintln!("{out}");
    assert!(out.contains("moved "), "progress is printed: {out}");
    assert_eq!(
        counts_line(&out, "stored before: "),
        counts_line(&out, "stored after: ")
    );
    assert!(
        counts_line(&out, "stored before: ")
            .starts_with("60 users, 2 lockouts, 10 refresh families"),
        "{out}"
    );
    let four = status_of(&c, 3);
    assert_eq!(four["map"]["replicas"], 4);
    assert!(
        four["stored"]["users"].as_u64().unwrap() > 0,
        "the new pod took users: {four}"
    );

    let (ok, out, err) = c.admin(&["rebalance", "--to-replicas", "2"]);
    assert!(ok, "rebalance to 2 failed: {out}\n{err}");
    assert_eq!(
        counts_line(&out, "stored before: "),
        counts_line(&out, "stored after: ")
    );
    for pod in [2, 3] {
        let s = status_of(&c, pod);
        assert_eq!(
            s["stored"]["users"], 0,
            "pod {pod} holds nothing after scaling down: {s}"
        );
        assert_eq!(s["stored"]["families"], 0);
    }
    let (served, retried, wrong) = load.finish();
    eprintln!(
        "load during the rebalances: {served} right answers, {retried} retryable 503s, {} wrong",
        wrong.len()
    );
    assert!(wrong.is_empty(), "answered wrongly: {wrong:#?}");
    assert!(served > 0);

    // everything still works through pods 0 and 1: users, refresh families, locks
    for (name, uuid) in &users {
        for base in &bases[..2] {
            let (status, body) = post(
                &format!("{base}/user/v1/_search"),
                &json!({"userName": name, "tenantId": "pb.amritsar"}),
            );
            assert_eq!(
                (status, body["user"][0]["uuid"].as_str()),
                (200, Some(uuid.as_str())),
                "{name}"
            );
        }
    }
    for r in &refresh {
        let (status, body) = token(
            &bases[1],
            &[("grant_type", "refresh_token"), ("refresh_token", r)],
        );
        assert_eq!(status, 200, "refresh family moved: {body}");
    }
    for name in &locked {
        let (status, body) = employee_login(&bases[0], name, "Asha@12345");
        assert_eq!(status, 400, "the lock moved too: {body}");
    }
}
