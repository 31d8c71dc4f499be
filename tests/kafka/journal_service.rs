//! The service with the journal on, on a real broker: it refuses to generate keys, reports ready only once
//! its partitions are at the journal's end, and a wiped data dir comes back whole — users, locks, spent
//! refresh tokens and revocations — so a restored userName cannot be registered again.

use std::collections::HashMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use crate::broker::Broker;
use crate::helpers::Process;
use crate::helpers::blocking::{create, details, login, post, refresh, try_create};
use crate::helpers::journal::journaled_env;

/// Journal on against `broker` (keys from outside unless `keys`), locks after two failures.
fn journaled(broker: &Broker, keys: bool) -> HashMap<&'static str, String> {
    let mut env = journaled_env(&broker.address());
    if !keys {
        env.retain(|name, _| !name.starts_with("DIGIT_USER_") || name.starts_with("DIGIT_USER__"));
    }
    env.insert("DIGIT_USER__LOCKOUT__MAX_INVALID_ATTEMPTS", "2".to_owned());
    // a spent refresh token is answered again within the grace window, however long the restore takes
    env.insert("DIGIT_USER__TOKENS__REFRESH_GRACE_SECS", "600".to_owned());
    env
}

fn metric(internal: &str, series: &str) -> Option<f64> {
    let text = reqwest::blocking::get(format!("{internal}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn without_keys_from_outside_a_journaled_pod_does_not_start() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let refused = Process::start(dir.path(), &journaled(&broker, false))
        .err()
        .unwrap();
    assert!(
        refused.contains("does not generate keys") && refused.contains("DIGIT_USER_SEALING_KEYS"),
        "{refused}"
    );
    assert!(!dir.path().join("secrets").exists(), "nothing generated");
}

#[test]
fn a_wiped_data_dir_comes_back_whole_from_the_journal_before_the_pod_is_ready() {
    let broker = Broker::start();
    let env = journaled(&broker, true);
    let dir = tempfile::tempdir().unwrap();
    let app = Process::start(dir.path(), &env).unwrap();
    assert!(app.wait_ready(Duration::from_secs(30)), "ready");
    for i in 0..6 {
        create(&app.base, &format!("EMP-{i}"));
    }
    // a lock (failures from an address the user logs in from), a logout, a rotated refresh token
    assert_eq!(login(&app.base, "EMP-0", "Abcdef1@").0, 200);
    login(&app.base, "EMP-0", "Wrong1@pw");
    let (_, locked) = login(&app.base, "EMP-0", "Wrong1@pw");
    assert_eq!(locked["error_description"], "Account locked");
    let (_, out) = login(&app.base, "EMP-1", "Abcdef1@");
    let (status, _) = post(
        &app.base,
        "/user/_logout",
        &json!({"access_token": out["access_token"]}),
    );
    assert_eq!(status, 200);
    let (_, kept) = login(&app.base, "EMP-2", "Abcdef1@");
    let (status, rotated) = refresh(&app.base, &kept["refresh_token"]);
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(app.stop(Signal::SIGKILL).code(), None);

    // the volume is lost: only the keys (from outside) and the journal remain
    std::fs::remove_dir_all(dir.path()).unwrap();
    let app = Process::start(dir.path(), &env).unwrap();
    assert!(
        app.wait_ready(Duration::from_secs(60)),
        "ready after the restore"
    );
    assert_eq!(
        metric(
            &app.internal,
            "digit_user_journal_partitions{state=\"restored\"}"
        ),
        Some(16.0)
    );
    for i in 1..6 {
        let (status, body) = login(&app.base, &format!("EMP-{i}"), "Abcdef1@");
        assert_eq!(status, 200, "EMP-{i} came back: {body}");
    }
    let (status, body) = login(&app.base, "EMP-0", "Abcdef1@");
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("Account locked")),
        "the lock came back"
    );
    let (status, body) = try_create(&app.base, "EMP-3");
    assert_eq!(status, 400, "a restored userName is taken: {body}");
    // spent stays spent: within the grace window its use answers what its first use issued, not a
    // second chain
    let (status, repeated) = refresh(&app.base, &kept["refresh_token"]);
    assert_eq!(status, 200, "{repeated}");
    assert_eq!(repeated["refresh_token"], rotated["refresh_token"]);
    assert_eq!(
        refresh(&app.base, &rotated["refresh_token"]).0,
        200,
        "the chain goes on"
    );
    assert_eq!(
        refresh(&app.base, &out["refresh_token"]).0,
        400,
        "logged out, still"
    );
    assert_eq!(details(&app.base, &out["access_token"]), 400);
}
