//! The real binary across a restart: locks, refresh families and revocations are on disk; `admin unlock`
//! ends a lock in the data dir of the stopped service.

use std::collections::HashMap;
use std::path::Path;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::helpers::Process;
use crate::helpers::blocking::{create, details, login, post, refresh};

fn env() -> HashMap<&'static str, String> {
    HashMap::from([("DIGIT_USER__LOCKOUT__MAX_INVALID_ATTEMPTS", "2".to_owned())])
}

fn admin_unlock(dir: &Path, user_name: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .args([
            "admin",
            "unlock",
            "--username",
            user_name,
            "--tenant",
            "pb.amritsar",
            "--data-dir",
        ])
        .arg(dir)
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn locks_refresh_families_and_revocations_survive_a_restart_and_admin_unlock_ends_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let app = Process::start(dir.path(), &env()).unwrap();
    create(&app.base, "EMP-A");
    create(&app.base, "EMP-B");
    let (_, a) = login(&app.base, "EMP-A", "Abcdef1@");
    login(&app.base, "EMP-A", "Wrong1@pw");
    let (_, locked) = login(&app.base, "EMP-A", "Wrong1@pw");
    assert_eq!(locked["error_description"], "Account locked");
    let (_, out) = login(&app.base, "EMP-B", "Abcdef1@");
    let (_, kept) = login(&app.base, "EMP-B", "Abcdef1@");
    let (status, _) = post(
        &app.base,
        "/user/_logout",
        &json!({"access_token": out["access_token"]}),
    );
    assert_eq!(status, 200);
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));

    let app = Process::start(dir.path(), &env()).unwrap();
    let (status, body) = login(&app.base, "EMP-A", "Abcdef1@");
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("Account locked")),
        "the lock survived"
    );
    assert_eq!(
        details(&app.base, &a["access_token"]),
        400,
        "revoked by the lock, still"
    );
    assert_eq!(
        details(&app.base, &out["access_token"]),
        400,
        "logged out, still"
    );
    assert_eq!(refresh(&app.base, &out["refresh_token"]).0, 400);
    assert_eq!(
        details(&app.base, &kept["access_token"]),
        200,
        "the other session lives on"
    );
    assert_eq!(
        refresh(&app.base, &kept["refresh_token"]).0,
        200,
        "its refresh family too"
    );
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));

    let (ok, line) = admin_unlock(dir.path(), "EMP-A");
    assert!(ok, "{line}");
    assert!(line.starts_with("unlocked EMPLOYEE "), "{line}");
    let (ok, line) = admin_unlock(dir.path(), "NOBODY");
    assert!(!ok && line.contains("no such user"), "{line}");

    let app = Process::start(dir.path(), &env()).unwrap();
    let (status, body) = login(&app.base, "EMP-A", "Abcdef1@");
    assert_eq!(status, 200, "unlocked by the command: {body}");
    let outbox: Value = reqwest::blocking::Client::new()
        .get(format!("{}/admin/outbox", app.internal))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (outbox["sink"].as_str(), outbox["depth"].as_u64()),
        (Some("file"), Some(0))
    );
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));
}
