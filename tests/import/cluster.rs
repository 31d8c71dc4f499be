//! `admin import --url` into a running three-pod deployment with the journal: each user stored by the pod
//! serving its home, its id and uuid published to the directory topic first. Every imported user is then
//! found by uuid, id, userName and mobile number through every pod; an update through one pod is seen
//! through another; passwords log in (and are rehashed), locked stays locked, an OTP login works; a new
//! user's id is above the imported ones; a re-run changes nothing, an interrupted run resumed gives the same
//! result, `import verify --url` agrees; and no PII is in clear on any pod's disk.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{MOBILE, PII, Source, U_CITIZEN, U_EMPLOYEE, files_under, source, stdout};
use crate::node::{LocalCluster, PARTITIONS, employee_login, post as post_once, token};

/// `digit-user admin import [verify] <args> --url <pod 0>`, its progress kept in `progress`.
fn import_via(c: &LocalCluster, src: &Source, progress: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .args(["admin", "import"])
        .args(args)
        .args(["--url", &c.nodes[0].internal])
        .arg("--data-dir")
        .arg(progress)
        .arg("--enc-master")
        .arg(src.master.path())
        .env("DIGIT_USER_IMPORT_FROM", &src.url)
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .output()
        .unwrap()
}

/// POSTs as a client would: a retryable 503 (a partition moving) asked again, for 10 s at most.
fn post(url: &str, body: &Value) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = post_once(url, body);
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every partition is served and all three pods serve some.
fn settled(c: &LocalCluster) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = post_once(
            &format!("{}/cluster/status", c.nodes[0].internal),
            &json!({}),
        );
        let routes = &status["group"]["routes"];
        let owners: std::collections::BTreeSet<u64> = (0..PARTITIONS)
            .filter_map(|p| routes[p.to_string()]["ordinal"].as_u64())
            .collect();
        let all = (0..PARTITIONS).all(|p| routes[p.to_string()]["ordinal"].is_u64());
        if all && owners.len() == 3 {
            return;
        }
        assert!(Instant::now() < deadline, "not settled: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn users_move_into_a_running_cluster_and_are_found_through_every_pod() {
    let src = source();
    let c = LocalCluster::start(3, 0);
    settled(&c);
    let progress = tempfile::tempdir().unwrap();

    // in two runs: the first stops at its limit, the second resumes
    let first = stdout(&import_via(
        &c,
        &src,
        progress.path(),
        &["--batch", "2", "--limit", "2"],
    ));
    assert!(first.contains("stopped at --limit"), "{first}");
    let second = stdout(&import_via(&c, &src, progress.path(), &["--batch", "2"]));
    assert!(
        second.contains("5 rows read, 4 new, 0 updated, 0 unchanged, 1 skipped"),
        "{second}"
    );

    for pod in &c.nodes {
        for (key, value) in [
            ("uuid", json!([U_EMPLOYEE])),
            ("id", json!([2300102])),
            ("userName", json!("EMP-AMR-1")),
            ("mobileNumber", json!(MOBILE)),
        ] {
            let (status, body) = post(
                &format!("{}/user/_search", pod.base),
                &json!({"tenantId": "pb.amritsar", key: value, "userType": "EMPLOYEE"}),
            );
            assert_eq!(status, 200, "{body}");
            let users = body["user"].as_array().unwrap();
            assert_eq!(users.len(), 1, "by {key} via {}: {body}", pod.base);
            assert_eq!(users[0]["uuid"], U_EMPLOYEE);
            assert_eq!(users[0]["id"], 2300102);
            assert_eq!(users[0]["name"], "Ravi Kumar");
        }
        let (status, body) = post(
            &format!("{}/user/_search", pod.base),
            &json!({"tenantId": "pb", "uuid": [U_CITIZEN]}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"][0]["id"], 2300101, "via {}", pod.base);
    }

    // an update through one pod, seen through the next: written at the user's home
    let (_, found) = post(
        &format!("{}/user/_search", c.nodes[1].base),
        &json!({"tenantId": "pb.amritsar", "uuid": [U_EMPLOYEE]}),
    );
    let mut user = found["user"][0].clone();
    user["name"] = json!("Ravi Renamed");
    let (status, body) = post(
        &format!("{}/user/users/_updatenovalidate", c.nodes[1].base),
        &json!({"RequestInfo": {}, "user": user}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = post(
        &format!("{}/user/_search", c.nodes[2].base),
        &json!({"tenantId": "pb.amritsar", "id": [2300102]}),
    );
    assert_eq!(body["user"][0]["name"], "Ravi Renamed");

    // passwords log in through any pod (the second login finds the argon2id hash), locked stays locked
    for pod in [0, 2] {
        let (status, body) = employee_login(&c.nodes[pod].base, "EMP-AMR-1", "Employee1@pw");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["UserRequest"]["uuid"], U_EMPLOYEE);
    }
    let (status, body) = employee_login(&c.nodes[1].base, "EMP-LOCKED", "Employee1@pw");
    assert_ne!(status, 200, "a locked account stays locked: {body}");

    // OTP login of the imported citizen
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", c.nodes[2].base),
        &json!({"otp": {"mobileNumber": MOBILE, "tenantId": "pb", "type": "login", "userType": "CITIZEN"}}),
    );
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(code) = c.last_code_to(MOBILE) {
            break code;
        }
        assert!(Instant::now() < deadline, "no SMS");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, body) = token(
        &c.nodes[1].base,
        &[
            ("grant_type", "password"),
            ("username", MOBILE),
            ("password", &code),
            ("tenantId", "pb"),
            ("userType", "CITIZEN"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["UserRequest"]["uuid"], U_CITIZEN);

    // new users get ids above the imported ones, whichever pod mints them
    for (i, pod) in c.nodes.iter().enumerate() {
        let (status, body) = post(
            &format!("{}/user/users/_createnovalidate", pod.base),
            &json!({"RequestInfo": {}, "user": crate::node::employee(&format!("EMPNEW{i}"), "9123456789")}),
        );
        assert_eq!(status, 200, "{body}");
        assert!(body["user"][0]["id"].as_i64().unwrap() > 2300104, "{body}");
    }

    // a re-run changes nothing; verify agrees on every stored row and names the one that cannot be stored
    let again = stdout(&import_via(&c, &src, progress.path(), &[]));
    assert!(again.contains("0 new, 0 updated"), "{again}");
    let verified = Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .args(["admin", "import", "verify", "--sample-every", "1"])
        .args(["--url", &c.nodes[2].internal])
        .arg("--data-dir")
        .arg(progress.path())
        .arg("--enc-master")
        .arg(src.master.path())
        .env("DIGIT_USER_IMPORT_FROM", &src.url)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verified.stderr);
    assert_eq!(verified.status.code(), Some(1), "{said}");
    assert!(
        said.contains("4 here with the same keys") && said.contains("1 rows cannot be stored"),
        "{said}"
    );
    assert!(
        said.contains("1 changed here since") && !said.contains("differ"),
        "the rename made here is told apart: {said}"
    );

    for pod in &c.nodes {
        for file in files_under(pod.data_dir()) {
            if file.file_name().is_some_and(|n| n == "notifications.jsonl") {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            for value in PII.iter().chain(&["EMP-AMR-1"]) {
                assert!(
                    !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                    "{value:?} in clear in {}",
                    file.display()
                );
            }
        }
    }
    drop(c);
    drop(src.pg);
}
