//! A lost volume in a three-pod cluster with the journal: users created and updated through every pod, an
//! account locked, a refresh family rotated, an OTP code sent and delivered, another sent while the pod could
//! not deliver it; pod 1 stopped, its data dir deleted, started again with the deployment's keys. Every
//! acknowledged write of its partitions is back — the count and the content of its users, the lock, the
//! rotated family, the code — the pending SMS is delivered, and a restored userName cannot be registered
//! again. Two standbys per partition: every pod holds every partition, so the count is exact.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ask::{owner_of, search, wait_code};
use crate::failover::spread_over;
use crate::node::{LocalCluster, employee, employee_login, post, token};

const LOST: u16 = 1;

/// The first mobile number from `from` whose OTP session the pod that loses its volume holds.
fn mobile_of_lost_pod(c: &LocalCluster, from: u64) -> String {
    (from..)
        .map(|m| m.to_string())
        .find(|m| owner_of(c, m) == LOST)
        .unwrap()
}

/// Waits until pod `pod` stores `users` users (its standby copies caught up).
fn wait_stored(c: &LocalCluster, pod: u16, users: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored_users(c, pod) != users {
        assert!(
            Instant::now() < deadline,
            "pod {pod} stores {} users, not {users}",
            stored_users(c, pod)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stored_users(c: &LocalCluster, pod: u16) -> usize {
    let (status, s) = post(
        &format!("{}/cluster/status", c.nodes[usize::from(pod)].internal),
        &json!({}),
    );
    assert_eq!(status, 200);
    usize::try_from(s["stored"]["users"].as_u64().unwrap()).unwrap()
}

#[test]
fn a_pod_whose_volume_is_lost_comes_back_whole_from_the_journal() {
    let mut c = LocalCluster::start_with(3, 0, &[("DIGIT_USER__JOURNAL__STANDBY_REPLICAS", "2")]);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let bases: Vec<String> = c.nodes.iter().map(|n| n.base.clone()).collect();
    let base = |o: usize| bases[o].clone();

    // six users whose home is the pod that will lose its volume, created through every pod
    let names: Vec<String> = (0..)
        .map(|i| format!("LOSTUSER{i:02}"))
        .filter(|n| owner_of(&c, n) == LOST)
        .take(6)
        .collect();
    for (i, name) in names.iter().enumerate() {
        let (status, body) = post(
            &format!("{}/user/users/_createnovalidate", base(i % 3)),
            &json!({"RequestInfo": {}, "user": employee(name, &format!("98765001{i:02}"))}),
        );
        assert_eq!(status, 200, "{body}");
    }
    // updated through another pod
    let (_, body) = search(
        &base(0),
        json!({"userName": names[0], "tenantId": "pb.amritsar"}),
    );
    let mut renamed = body["user"][0].clone();
    renamed["name"] = json!("Asha Renamed");
    let (status, body) = post(
        &format!("{}/user/users/_updatenovalidate", base(2)),
        &json!({"RequestInfo": {}, "user": renamed}),
    );
    assert_eq!(status, 200, "{body}");
    // locked after five failures from an address the user logs in from
    assert_eq!(employee_login(&base(0), &names[1], "Asha@12345").0, 200);
    for _ in 0..5 {
        employee_login(&base(0), &names[1], "Wrong@12345");
    }
    let (_, locked) = employee_login(&base(2), &names[1], "Asha@12345");
    assert_eq!(locked["error_description"], "Account locked");
    // a family rotated
    let (status, session) = employee_login(&base(2), &names[2], "Asha@12345");
    assert_eq!(status, 200, "{session}");
    let (status, rotated) = token(
        &base(0),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", session["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(status, 200, "{rotated}");
    // an OTP code whose session the pod holds
    let mobile = mobile_of_lost_pod(&c, 9_123_450_000u64);
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(0)),
        &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}),
    );
    assert_eq!(status, 201, "{body}");
    let code = wait_code(&c, &mobile, None);

    // an SMS the pod cannot deliver yet: its file sink fails (a path no file can be made at)
    c.stop(LOST);
    c.start_node_with(
        LOST,
        &[(
            "DIGIT_USER__NOTIFY__FILE",
            "/nonexistent-dir/notifications.jsonl",
        )],
    );
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let pending = mobile_of_lost_pod(&c, 9_123_460_000u64);
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(2)),
        &json!({"otp": {"mobileNumber": pending, "tenantId": "pb", "type": "register"}}),
    );
    assert_eq!(status, 201, "{body}");
    // the notifier tried and failed: the SMS waits in the outbox (journaled with the send)
    let outbox_url = format!("{}/admin/outbox", c.nodes[usize::from(LOST)].internal);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let outbox = loop {
        let outbox: Value = reqwest::blocking::get(&outbox_url).unwrap().json().unwrap();
        if outbox["maxAttempts"].as_u64() >= Some(1) {
            break outbox;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery attempt: {outbox}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(outbox["depth"].as_u64() >= Some(1), "{outbox}");
    assert!(outbox["lastError"].is_string(), "{outbox}");
    assert_eq!(c.last_code_to(&pending), None, "not delivered yet");

    let before: Vec<Value> = names
        .iter()
        .map(|n| {
            search(&base(0), json!({"userName": n, "tenantId": "pb.amritsar"})).1["user"][0].clone()
        })
        .collect();
    wait_stored(&c, LOST, names.len());

    // the volume is lost
    c.stop(LOST);
    std::fs::remove_dir_all(c.nodes[usize::from(LOST)].data_dir()).unwrap();
    c.start_node(LOST);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));

    // as many users as before on its disk again, read from the journal
    wait_stored(&c, LOST, names.len());
    for (name, was) in names.iter().zip(&before) {
        let (status, body) = search(
            &base(2),
            json!({"userName": name, "tenantId": "pb.amritsar"}),
        );
        assert_eq!(status, 200);
        assert_eq!(&body["user"][0], was, "{name} came back as it was");
    }
    assert_eq!(before[0]["name"], "Asha Renamed");
    let (status, body) = employee_login(&base(0), &names[1], "Asha@12345");
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("Account locked")),
        "the lock came back"
    );
    let (status, body) = token(
        &base(1),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rotated["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(status, 200, "the rotated family came back: {body}");
    let (status, body) = post(
        &format!("{}/user/citizen/_create", base(2)),
        &json!({"RequestInfo": {}, "User": {"name": "Ravi Kumar", "username": mobile, "otpReference": code, "tenantId": "pb"}}),
    );
    assert_eq!(
        status, 200,
        "the code sent before the loss registers: {body}"
    );
    // the SMS that was pending when the volume was lost goes out from the restored outbox
    let late = wait_code(&c, &pending, None);
    let (status, body) = post(
        &format!("{}/user/citizen/_create", base(0)),
        &json!({"RequestInfo": {}, "User": {"name": "Meena Devi", "username": pending, "otpReference": late, "tenantId": "pb"}}),
    );
    assert_eq!(
        status, 200,
        "the pending code, delivered after the loss, registers: {body}"
    );
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", base(0)),
        &json!({"RequestInfo": {}, "user": employee(&names[3], "9876500999")}),
    );
    assert_eq!(status, 400, "a restored userName is taken: {body}");
}
