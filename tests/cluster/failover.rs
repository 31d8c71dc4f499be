//! Three pods in Kafka's consumer group on the journal topic. A pod killed
//! has its partitions served by the others once the group's session timeout drops it (plus their replay);
//! nothing acknowledged is lost; a pod stopped with SIGTERM hands its partitions over at once; a pod that
//! comes back gets its share again.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use actors::partition::home_partition;
use serde_json::{Value, json};

use crate::ask::{search, uuids};
use crate::node::{LocalCluster, PARTITIONS, employee, post};

pub(crate) fn status(c: &LocalCluster, pod: u16) -> Value {
    let url = format!("{}/cluster/status", c.nodes[usize::from(pod)].internal);
    let resp = reqwest::blocking::Client::new()
        .post(&url)
        .json(&json!({}))
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap_or_else(|e| {
            panic!(
                "pod {pod} ({}) did not answer {url}: {e}",
                c.process_of(pod)
            )
        });
    let code = resp.status().as_u16();
    let s: Value = resp.json().unwrap_or(Value::Null);
    assert_eq!(code, 200, "{s}");
    s
}

/// The partitions pod `pod` serves.
fn serving(c: &LocalCluster, pod: u16) -> BTreeSet<u16> {
    status(c, pod)["group"]["serving"]
        .as_object()
        .map(|m| m.keys().map(|k| k.parse().unwrap()).collect())
        .unwrap_or_default()
}

/// Waits until `pods` serve every partition between them, each one some, each partition one pod, and
/// every pod routes by that — the same for a second (the group may rebalance in more than one round);
/// the partitions of each.
pub(crate) fn spread_over(c: &LocalCluster, pods: &[u16], within: Duration) -> Vec<BTreeSet<u16>> {
    let deadline = Instant::now() + within;
    let mut last: Option<(Vec<BTreeSet<u16>>, Instant)> = None;
    loop {
        let served: Vec<BTreeSet<u16>> = pods.iter().map(|p| serving(c, *p)).collect();
        let total: usize = served.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<u16> = served.iter().flatten().copied().collect();
        let routed = pods.iter().all(|p| {
            let routes = &status(c, *p)["group"]["routes"];
            pods.iter().zip(&served).all(|(owner, parts)| {
                parts
                    .iter()
                    .all(|part| routes[part.to_string()]["ordinal"] == *owner)
            })
        });
        if total == usize::from(PARTITIONS)
            && union.len() == usize::from(PARTITIONS)
            && served.iter().all(|s| !s.is_empty())
            && routed
        {
            match &last {
                Some((before, since)) if *before == served => {
                    if since.elapsed() >= Duration::from_secs(1) {
                        return served;
                    }
                }
                _ => last = Some((served.clone(), Instant::now())),
            }
        } else {
            last = None;
        }
        assert!(
            Instant::now() < deadline,
            "not spread over {pods:?} within {within:?}: {served:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether every `(name, uuid)` is found through `base`.
pub(crate) fn all_found(base: &str, users: &[(String, String)]) -> bool {
    users.iter().all(|(name, uuid)| {
        let (code, body) = search(base, json!({"userName": name, "tenantId": "pb.amritsar"}));
        code == 200 && uuids(&body) == vec![uuid.clone()]
    })
}

/// POSTs `body` to `url` as a client would, retrying a retryable 503 for up to 10 s; (status, body,
/// 503s seen).
pub(crate) fn post_retrying(url: &str, body: &Value) -> (u16, Value, u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut unavailable = 0;
    loop {
        let (code, answer) = post(url, body);
        if code != 503 || Instant::now() >= deadline {
            return (code, answer, unavailable);
        }
        unavailable += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a writer did to one user.
struct Written {
    uuid: String,
    acknowledged: usize,
    /// The last name a 200 answered.
    last_acknowledged: Option<String>,
    /// Names tried after it whose answer was not a 200 (the client cannot know whether they landed).
    unknown_after: Vec<String>,
}

/// Renames each of `records` in turn through `bases` until `stop`; what it did to each.
fn write_load(
    bases: Vec<String>,
    records: Vec<Value>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Written>> {
    std::thread::spawn(move || {
        let mut written: Vec<Written> = records
            .iter()
            .map(|r| Written {
                uuid: r["uuid"].as_str().unwrap().to_owned(),
                acknowledged: 0,
                last_acknowledged: None,
                unknown_after: Vec::new(),
            })
            .collect();
        let mut n = 0usize;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let i = n % records.len();
            let mut record = records[i].clone();
            let name = format!("Asha Write {n}");
            record["name"] = json!(name);
            let answer = reqwest::blocking::Client::new()
                .post(format!(
                    "{}/user/users/_updatenovalidate",
                    bases[n % bases.len()]
                ))
                .json(&json!({"RequestInfo": {}, "user": record}))
                .timeout(Duration::from_secs(10))
                .send()
                .map(|r| r.status().as_u16());
            let w = &mut written[i];
            match answer {
                Ok(200) => {
                    w.acknowledged += 1;
                    w.last_acknowledged = Some(name);
                    w.unknown_after.clear();
                }
                _ => w.unknown_after.push(name),
            }
            n += 1;
        }
        written
    })
}

#[test]
fn a_killed_pod_s_partitions_are_taken_over_and_a_stopped_one_hands_them_over() {
    let mut c = LocalCluster::start(3, 0);
    let spread = spread_over(&c, &[0, 1, 2], Duration::from_secs(60));

    // users through every pod, some in every pod's partitions
    let mut users = Vec::new();
    let mut retried = 0;
    for i in 0..24 {
        let name = format!("GROUPUSER{i:02}");
        let (code, body, unavailable) = post_retrying(
            &format!("{}/user/users/_createnovalidate", c.nodes[i % 3].base),
            &json!({"RequestInfo": {}, "user": employee(&name, "9876500000")}),
        );
        assert_eq!(code, 200, "{body}");
        retried += unavailable;
        users.push((name, body["user"][0]["uuid"].as_str().unwrap().to_owned()));
    }
    let of_pod = |pod: usize| -> Vec<(String, String)> {
        users
            .iter()
            .filter(|(n, _)| spread[pod].contains(&home_partition("pb", n, PARTITIONS).0))
            .cloned()
            .collect()
    };
    let victims = of_pod(1);
    assert!(!victims.is_empty(), "pod 1 serves some of the users");

    // a writer renames users through pods 0 and 2 all along: every name acknowledged must survive
    let records: Vec<Value> = users
        .iter()
        .map(|(name, _)| {
            let (_, body) = search(
                &c.nodes[0].base,
                json!({"userName": name, "tenantId": "pb.amritsar"}),
            );
            body["user"][0].clone()
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = write_load(
        vec![c.nodes[0].base.clone(), c.nodes[2].base.clone()],
        records,
        stop.clone(),
    );
    std::thread::sleep(Duration::from_millis(500));

    // SIGKILL: the group drops pod 1 after its session timeout; the others take its partitions over
    c.kill(1);
    let killed = Instant::now();
    while !all_found(&c.nodes[0].base, &users) || !all_found(&c.nodes[2].base, &victims) {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "pod 1's users not served by the others within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let takeover = killed.elapsed();
    eprintln!("takeover after SIGKILL: {:.1} s", takeover.as_secs_f64());
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.join().unwrap();
    let acknowledged: usize = written.iter().map(|w| w.acknowledged).sum();
    assert!(
        acknowledged > 10,
        "the writer ran: {acknowledged} writes acknowledged"
    );
    for w in &written {
        let (code, body, _) = post_retrying(
            &format!("{}/user/v1/_search", c.nodes[0].base),
            &json!({"uuid": [w.uuid], "tenantId": "pb.amritsar"}),
        );
        assert_eq!(code, 200, "{body}");
        let stored = body["user"][0]["name"].as_str().unwrap().to_owned();
        assert!(
            Some(&stored) == w.last_acknowledged.as_ref() || w.unknown_after.contains(&stored),
            "{}: stored {stored:?}, last acknowledged {:?}, unknown after it {:?}",
            w.uuid,
            w.last_acknowledged,
            w.unknown_after
        );
    }
    eprintln!("writes acknowledged across the SIGKILL: {acknowledged}, none lost");
    // measured 4.3–11.4 s on tansu (README "Operating at scale"); the bound leaves room for a loaded CI
    assert!(
        takeover <= Duration::from_secs(15),
        "served again after {takeover:?}, far beyond the session timeout plus replay"
    );
    // a write to a moved user, read through another pod
    let (name, _) = &victims[0];
    let (_, body) = search(
        &c.nodes[2].base,
        json!({"userName": name, "tenantId": "pb.amritsar"}),
    );
    let mut renamed = body["user"][0].clone();
    renamed["name"] = json!("Asha Moved");
    let (code, body, unavailable) = post_retrying(
        &format!("{}/user/users/_updatenovalidate", c.nodes[2].base),
        &json!({"RequestInfo": {}, "user": renamed}),
    );
    assert_eq!(code, 200, "{body}");
    retried += unavailable;
    let (_, body) = search(
        &c.nodes[0].base,
        json!({"userName": name, "tenantId": "pb.amritsar"}),
    );
    assert_eq!(body["user"][0]["name"], "Asha Moved");

    // back: the load spreads over three again, nothing lost
    c.start_node(1);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    assert!(all_found(&c.nodes[1].base, &users));

    // SIGTERM: pod 2 hands its partitions over before it exits, no session timeout waited out
    let leaving = of_pod(2);
    let stopped = Instant::now();
    c.stop(2);
    let exited = stopped.elapsed();
    while !all_found(&c.nodes[0].base, &users) {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "pod 2's users not served after it left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let handover = stopped.elapsed();
    eprintln!(
        "handover after SIGTERM: exited in {:.1} s, every user served after {:.1} s ({} of them were pod 2's)",
        exited.as_secs_f64(),
        handover.as_secs_f64(),
        leaving.len()
    );
    // measured 1.1–6.5 s on tansu, whose group does not always act on a member's leaving at once: then the
    // session timeout (6 s here) notices it, and once (10.7 s, a CI run of 2026-12-01) a rebalancing round
    // more. Bound: the session timeout plus the handover bound (8 s)
    assert!(
        handover < Duration::from_secs(14),
        "a pod that leaves hands its partitions over: {handover:?}"
    );
    spread_over(&c, &[0, 1], Duration::from_secs(30));
    eprintln!("retryable 503s answered to the writes: {retried}");
    // a partition the group gave to two pods at once is settled within a second (measured: 0)
    assert!(
        retried <= 3,
        "writes between rebalances meet a served partition: {retried} retryable 503s"
    );
}

#[test]
fn a_pod_paused_past_its_session_has_no_write_acknowledged_for_partitions_it_lost() {
    use nix::sys::signal::Signal;

    let c = LocalCluster::start(3, 0);
    let spread = spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    // a user whose partition pod 1 serves
    let name = (0..)
        .map(|i| format!("ZOMBIEUSER{i:02}"))
        .find(|n| spread[1].contains(&home_partition("pb", n, PARTITIONS).0))
        .unwrap();
    let (code, body, _) = post_retrying(
        &format!("{}/user/users/_createnovalidate", c.nodes[0].base),
        &json!({"RequestInfo": {}, "user": employee(&name, "9876500000")}),
    );
    assert_eq!(code, 200, "{body}");
    let mut user = body["user"][0].clone();

    // pod 1 paused past the session timeout: the group gives its partitions to the others
    c.signal(1, Signal::SIGSTOP);
    let paused = Instant::now();
    let users = vec![(name.clone(), user["uuid"].as_str().unwrap().to_owned())];
    while !all_found(&c.nodes[0].base, &users) {
        assert!(paused.elapsed() < Duration::from_secs(30), "not taken over");
        std::thread::sleep(Duration::from_millis(100));
    }
    // the new owner takes a write; another reaches the paused pod directly (its listener still queues
    // connections); then the paused pod runs again
    let mut by_owner = user.clone();
    by_owner["name"] = json!("Written By The Owner");
    let (code, body, _) = post_retrying(
        &format!("{}/user/users/_updatenovalidate", c.nodes[0].base),
        &json!({"RequestInfo": {}, "user": by_owner}),
    );
    assert_eq!(code, 200, "{body}");
    user["name"] = json!("Written By The Zombie");
    let zombie_url = format!("{}/user/users/_updatenovalidate", c.nodes[1].base);
    let zombie_body = json!({"RequestInfo": {}, "user": user.clone()});
    let zombie = std::thread::spawn(move || post(&zombie_url, &zombie_body));
    std::thread::sleep(Duration::from_millis(300));
    c.signal(1, Signal::SIGCONT);
    let (zombie_code, zombie_answer) = zombie.join().unwrap();

    // whatever it answered is true: acknowledged only if the owner has it, refused only if nobody does
    std::thread::sleep(Duration::from_secs(2));
    for pod in [0, 2] {
        // the pod back in the group makes it rebalance: a search may meet a partition moving (503)
        let (code, body, _) = post_retrying(
            &format!("{}/user/v1/_search", c.nodes[pod].base),
            &json!({"userName": name, "tenantId": "pb.amritsar"}),
        );
        assert_eq!(code, 200, "{body}");
        let stored = body["user"][0]["name"].as_str().unwrap().to_owned();
        match zombie_code {
            200 => assert_eq!(stored, "Written By The Zombie", "acknowledged, so stored"),
            // 408: resumed, the pod timed the request out before reading it (the clock it times requests
            // by stood still through the pause), so no handler ran — seen once in CI, 2026-12-01
            503 | 408 => assert_eq!(
                stored, "Written By The Owner",
                "refused, so stored nowhere: {zombie_answer}"
            ),
            other => panic!("the paused pod answered {other}: {zombie_answer}"),
        }
    }
    eprintln!("the paused pod answered its write with {zombie_code}: {zombie_answer}");
    // the cluster settles with pod 1 back among the owners
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let (_, body) = search(
        &c.nodes[1].base,
        json!({"userName": name, "tenantId": "pb.amritsar"}),
    );
    assert_eq!(body["user"][0]["uuid"], user["uuid"]);
}
