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

use crate::cli::{
    MOBILE, Source, U_CITIZEN, U_EMPLOYEE, U_LOCKED, U_SMALL, no_pii_under, source, stdout,
};
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

    // a user created here before the import, whose id egov-user also gave to one of its users
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", c.nodes[1].base),
        &json!({"RequestInfo": {}, "user": crate::node::employee("EMPNATIVE", "9123456700")}),
    );
    assert_eq!(status, 200, "{body}");
    let native_id = body["user"][0]["id"].as_i64().unwrap();
    let native_uuid = body["user"][0]["uuid"].as_str().unwrap().to_owned();
    let mut db = postgres::Client::connect(&src.url, postgres::NoTls).unwrap();
    db.execute(
        "INSERT INTO eg_user (id, uuid, tenantid, username, password, type, active) \
         VALUES ($1, '5fde81a6-8293-4e5f-b1b6-70c3d2e35f66', 'pb.amritsar', 'EMP-CLASH', 'x', 'EMPLOYEE', true)",
        &[&native_id],
    )
    .unwrap();

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
        second.contains("6 rows read, 4 new, 0 updated, 0 unchanged, 2 skipped"),
        "{second}"
    );
    assert!(
        second.contains(&format!(
            "{native_id} pb.amritsar: its id is another user's"
        )),
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
        // every imported user by uuid, id and userName
        for (uuid, id, user_name, tenant) in [
            (U_CITIZEN, 2300101, MOBILE, "pb"),
            (U_EMPLOYEE, 2300102, "EMP-AMR-1", "pb.amritsar"),
            (U_LOCKED, 2300103, "EMP-LOCKED", "pb.amritsar"),
            (U_SMALL, 12, "EMP-SMALL", "pb.amritsar"),
        ] {
            for (key, value) in [
                ("uuid", json!([uuid])),
                ("id", json!([id])),
                ("userName", json!(user_name)),
            ] {
                let (status, body) = post(
                    &format!("{}/user/v1/_search", pod.base),
                    &json!({"tenantId": tenant, key: value}),
                );
                assert_eq!(status, 200, "{body}");
                assert_eq!(
                    (
                        body["user"][0]["uuid"].as_str(),
                        body["user"][0]["id"].as_i64()
                    ),
                    (Some(uuid), Some(id)),
                    "{user_name} by {key} via {}: {body}",
                    pod.base
                );
            }
        }
        let (status, body) = post(
            &format!("{}/user/_search", pod.base),
            &json!({"tenantId": "pb", "mobileNumber": MOBILE, "userType": "CITIZEN"}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["user"][0]["uuid"], U_CITIZEN,
            "by mobile via {}",
            pod.base
        );
    }

    // the user already here keeps its id, on every pod
    for pod in &c.nodes {
        let (status, body) = post(
            &format!("{}/user/v1/_search", pod.base),
            &json!({"tenantId": "pb.amritsar", "id": [native_id]}),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"].as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(body["user"][0]["uuid"], native_uuid.as_str());
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
        said.contains("4 here with the same keys") && said.contains("2 rows cannot be stored"),
        "{said}"
    );
    assert!(
        said.contains("1 changed here since"),
        "the rename made here is told apart: {said}"
    );
    assert!(
        said.contains(&format!("1 differ: {native_id} pb.amritsar (uuid)")),
        "the row whose id another user has: {said}"
    );

    for pod in &c.nodes {
        no_pii_under(pod.data_dir());
    }
    drop(c);
    drop(src.pg);
}
