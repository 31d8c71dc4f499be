//! The real binary: data at rest holds no PII in clear, writes survive SIGTERM and SIGKILL, and a data dir
//! the binary cannot use stops start-up with one line saying what to do.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::helpers::Process;
use crate::helpers::blocking::post;

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path))
        } else {
            out.push(path)
        }
    }
    out
}

fn pii_user(i: usize) -> Value {
    json!({
        "userName": format!("PIIUSER{i}"), "name": format!("Zebulon Quixote{i}"), "mobileNumber": format!("98765{i:05}"),
        "emailId": format!("zebulon{i}@quixote-example.org"), "pan": format!("QZXPQ{i:04}Z"),
        "aadhaarNumber": format!("7391{i:08}"), "permanentAddress": format!("Flat {i} Marigold Residency"),
        "fatherOrHusbandName": format!("Xavier Quixote{i}"), "password": format!("Zq{i}@secretA"),
        "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "roles": [{"code": "EMPLOYEE"}]
    })
}

#[test]
fn no_pii_or_password_in_clear_anywhere_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let users: Vec<Value> = (0..5).map(pii_user).collect();
    for u in &users {
        let (code, body) = post(
            &app.base,
            "/user/users/_createnovalidate",
            &json!({"user": u}),
        );
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));
    let files = files_under(dir.path());
    assert!(files.len() > 3);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for u in &users {
            for field in [
                "userName",
                "name",
                "mobileNumber",
                "emailId",
                "pan",
                "aadhaarNumber",
                "permanentAddress",
                "fatherOrHusbandName",
                "password",
            ] {
                let value = u[field].as_str().unwrap();
                let needle = value.as_bytes();
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{field} {value:?} in clear in {}",
                    file.display()
                );
                let b64 = base64::engine::general_purpose::STANDARD.encode(value);
                assert!(
                    !bytes.windows(b64.len()).any(|w| w == b64.as_bytes()),
                    "{field} base64 in {}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigterm_and_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let (code, _) = post(
        &app.base,
        "/user/users/_createnovalidate",
        &json!({"user": pii_user(1)}),
    );
    assert_eq!(code, 200);
    assert_eq!(
        app.stop(Signal::SIGTERM).code(),
        Some(0),
        "graceful shutdown exits 0"
    );

    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let (code, created) = post(
        &app.base,
        "/user/users/_createnovalidate",
        &json!({"user": pii_user(2)}),
    );
    assert_eq!(code, 200);
    let uuid = created["user"][0]["uuid"].clone();
    // an update acknowledged, then killed at once
    let (code, _) = post(
        &app.base,
        "/user/users/_updatenovalidate",
        &json!({"user": {"uuid": uuid, "tenantId": "pb.amritsar", "name": "After Update", "roles": [{"code": "EMPLOYEE"}]}}),
    );
    assert_eq!(code, 200);
    app.stop(Signal::SIGKILL);

    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let (_, body) = post(
        &app.base,
        "/user/v1/_search",
        &json!({"tenantId": "pb.amritsar", "roleCodes": ["EMPLOYEE"]}),
    );
    let users = body["user"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{body}");
    assert_eq!(users[1]["name"], "After Update");
    assert_eq!(users[0]["userName"], "PIIUSER1");
}

fn start_error(dir: &Path, env: &HashMap<&str, String>) -> String {
    match Process::start(dir, env) {
        Ok(_) => panic!("start-up should have failed"),
        Err(e) => e,
    }
}

#[test]
fn a_taken_port_stops_start_up_with_one_line_and_no_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--listen")
        .arg(taken.local_addr().unwrap().to_string())
        .arg("--internal-listen")
        .arg("127.0.0.1:0")
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot listen on") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn unusable_data_dirs_stop_start_up_with_one_line() {
    // written under other keys
    let dir = tempfile::tempdir().unwrap();
    drop(Process::start(dir.path(), &HashMap::new()).unwrap());
    let other_key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let err = start_error(
        dir.path(),
        &HashMap::from([("DIGIT_USER_BLIND_INDEX_KEY", other_key)]),
    );
    assert!(err.contains("another blind-index key"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // a newer schema
    let dir = tempfile::tempdir().unwrap();
    drop(Process::start(dir.path(), &HashMap::new()).unwrap());
    {
        let db = crate::helpers::raw_sled(dir.path());
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", 99u32.to_be_bytes().to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let err = start_error(dir.path(), &HashMap::new());
    assert!(
        err.contains("schema version 99") && err.contains("run a digit-user release"),
        "{err}"
    );

    // corrupt
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    std::fs::write(
        dir.path().join("db").join("conf"),
        b"\x00garbage that is no sled config",
    )
    .unwrap();
    let err = start_error(dir.path(), &HashMap::new());
    assert!(err.contains("cannot open the data dir"), "{err}");
}

#[test]
fn check_config_and_admin_create_user() {
    let bin = env!("CARGO_BIN_EXE_digit-user");
    let out = std::process::Command::new(bin)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration ok"));
    let out = std::process::Command::new(bin)
        .arg("check-config")
        .env("DIGIT_USER__HTTP__NOPE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));

    let dir = tempfile::tempdir().unwrap();
    let run = |password: &str| {
        crate::helpers::run_piped(
            std::process::Command::new(bin)
                .args([
                    "admin",
                    "create-user",
                    "--username",
                    "ROOT",
                    "--name",
                    "Root Admin",
                    "--tenant",
                    "pb",
                    "--mobile",
                    "9999999999",
                ])
                .arg("--data-dir")
                .arg(dir.path())
                .env("DIGIT_USER__HASHER__MEMORY_KIB", "256"),
            &format!("{password}\n"),
        )
    };
    let weak = run("weak");
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("INVALID_PWD_LENGTH"));
    let ok = run("Root@1234");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created EMPLOYEE ROOT"));
    let again = run("Root@1234");
    assert!(String::from_utf8_lossy(&again.stderr).contains("DuplicateUserNameException"));

    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let (_, body) = post(
        &app.base,
        "/user/v1/_search",
        &json!({"roleCodes": ["SUPERUSER"], "tenantId": "pb"}),
    );
    assert_eq!(body["user"][0]["userName"], "ROOT");
    assert_eq!(body["user"][0]["active"], true);
}

#[test]
fn json_logs_show_the_ordered_shutdown_and_no_pii() {
    let dir = tempfile::tempdir().unwrap();
    let env = HashMap::from([
        ("DIGIT_USER__LOG__FORMAT", "json".to_owned()),
        ("DIGIT_USER__LOG__LEVEL", "info".to_owned()),
    ]);
    let app = Process::start(dir.path(), &env).unwrap();
    let (code, _) = post(
        &app.base,
        "/user/users/_createnovalidate",
        &json!({"user": pii_user(3)}),
    );
    assert_eq!(code, 200);
    let (status, log) = app.stop_with_log(Signal::SIGTERM);
    assert_eq!(status.code(), Some(0));
    let messages: Vec<String> = log
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
        })
        .map(|v| v["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    let position = |needle: &str| {
        messages
            .iter()
            .position(|m| m.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {messages:?}"))
    };
    assert!(position("generated a secret") < position("digit-user serving"));
    assert!(position("shutdown requested") < position("readiness off"));
    assert!(position("readiness off") < position("stopping actors"));
    assert!(position("stopping actors") < position("flushing the store"));
    assert!(position("flushing the store") < position("shutdown complete"));
    for value in ["PIIUSER3", "Zebulon", "9876500003", "Zq3@secretA"] {
        assert!(!log.contains(value), "{value} logged");
    }
}

fn notifications(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("notifications.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn otp_of(notification: &Value) -> String {
    let text = notification["payload"]["message"].as_str().unwrap();
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap()
        .to_owned()
}

#[test]
fn a_code_acknowledged_before_sigkill_validates_once_after_restart_and_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    // the first process cannot deliver (its sink file is in a missing directory): the sms stays in the outbox
    let broken_sink = HashMap::from([(
        "DIGIT_USER__NOTIFY__FILE",
        dir.path().join("missing/n.jsonl").display().to_string(),
    )]);
    let app = Process::start(dir.path(), &broken_sink).unwrap();
    let (code, body) = post(
        &app.base,
        "/user-otp/v1/_send",
        &json!({"otp": {"mobileNumber": "9876512345", "tenantId": "pb"}}),
    );
    assert_eq!(code, 201, "{body}");
    app.stop(Signal::SIGKILL);

    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = notifications(dir.path());
        if !delivered.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // at-least-once: a delivery whose removal from the outbox had not reached the disk is repeated, with the
    // same message-id, which consumers de-duplicate on
    assert!(!delivered.is_empty(), "the acknowledged sms is delivered");
    assert!(
        delivered
            .iter()
            .all(|n| n["messageId"] == delivered[0]["messageId"]),
        "{delivered:?}"
    );
    let otp = otp_of(&delivered[0]);
    let validate = json!({"otp": {"otp": otp, "identity": "9876512345", "tenantId": "pb"}});
    assert_eq!(post(&app.base, "/otp/v1/_validate", &validate).0, 200);
    assert_eq!(
        post(&app.base, "/otp/v1/_validate", &validate).0,
        400,
        "consumed"
    );
    app.stop(Signal::SIGKILL);
    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    assert_eq!(
        post(&app.base, "/otp/v1/_validate", &validate).0,
        400,
        "the consumption survived the kill too"
    );
}

#[test]
fn no_otp_in_clear_under_the_data_dir_except_the_file_sink() {
    let dir = tempfile::tempdir().unwrap();
    let app = Process::start(dir.path(), &HashMap::new()).unwrap();
    let mobiles: Vec<String> = (0..5).map(|i| format!("98765{i:05}")).collect();
    for m in &mobiles {
        let (code, _) = post(
            &app.base,
            "/user-otp/v1/_send",
            &json!({"otp": {"mobileNumber": m, "tenantId": "pb"}}),
        );
        assert_eq!(code, 201);
    }
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = notifications(dir.path());
        if delivered.len() == mobiles.len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(delivered.len(), mobiles.len());
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));
    let codes: Vec<String> = delivered.iter().map(otp_of).collect();
    for file in files_under(dir.path()) {
        if file.file_name().is_some_and(|n| n == "notifications.jsonl") {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        for secret in codes.iter().chain(&mobiles) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in clear in {}",
                file.display()
            );
        }
    }
}

/// A deployment upgraded with the settings of the partition map it no longer has is told what replaced
/// them, and so is an operator running `admin rebalance`.
#[test]
fn the_partition_map_s_settings_and_admin_rebalance_say_what_replaced_them() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_digit-user"));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["check-config"], &[("DIGIT_USER__CLUSTER__REPLICAS", "3")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`cluster.replicas`")
            && err.contains("DIGIT_USER__CLUSTER__REPLICAS")
            && err.contains("consumer group")
            && err.lines().count() == 1,
        "{err}"
    );
    let (code, err) = run(&["admin", "rebalance", "--to-replicas", "4", "--plan"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("retired") && err.contains("kubectl scale"),
        "{err}"
    );
}
