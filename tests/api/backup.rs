//! `admin backup` of a running single pod under write load and `admin restore` into an empty dir, with the
//! real binary: every write acknowledged before the backup began is back, locks stay locked, and a restore
//! refuses a used dir, missing keys and a damaged file.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use base64::Engine;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::helpers::{BASIC, Process, run_piped};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn create(base: &str, user_name: &str) -> u16 {
    client()
        .post(format!("{base}/user/users/_createnovalidate"))
        .json(&json!({"user": {"userName": user_name, "name": "Asha Devi", "mobileNumber": "9876543210",
                               "password": "Abcdef1@", "type": "EMPLOYEE", "tenantId": "pb.amritsar",
                               "active": true, "roles": [{"code": "EMPLOYEE"}]}}))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn login(base: &str, user_name: &str, password: &str) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}/user/oauth/token"))
        .header("authorization", BASIC)
        .form(&[
            ("grant_type", "password"),
            ("username", user_name),
            ("password", password),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
        ])
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

fn user_names(base: &str) -> Vec<String> {
    let body: Value = client()
        .post(format!("{base}/user/v1/_search"))
        .json(&json!({"tenantId": "pb.amritsar", "roleCodes": ["EMPLOYEE"], "pageSize": 10000}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    body["user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect()
}

/// The four secrets a first start generated under `dir`, as the environment that supplies them from outside.
fn secrets_of(dir: &Path) -> HashMap<&'static str, String> {
    [
        ("DIGIT_USER_SEALING_KEYS", "sealing_keys"),
        ("DIGIT_USER_BLIND_INDEX_KEY", "blind_index_key"),
        ("DIGIT_USER_TOKEN_KEY", "token_key"),
        ("DIGIT_USER_OTP_PEPPER", "otp_pepper"),
    ]
    .into_iter()
    .map(|(var, file)| {
        let value = std::fs::read_to_string(dir.join("secrets").join(file)).unwrap();
        (var, value.trim().to_owned())
    })
    .collect()
}

fn admin(args: &[&str], data_dir: &Path, env: &HashMap<&str, String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .envs(env)
        .output()
        .unwrap()
}

/// [`admin`] with `input` piped to standard input (a passphrase).
fn admin_piped(args: &[&str], data_dir: &Path, input: &str) -> Output {
    run_piped(
        Command::new(env!("CARGO_BIN_EXE_digit-user"))
            .arg("admin")
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("DIGIT_USER__LOG__LEVEL", "warn"),
        input,
    )
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn a_backup_under_write_load_restores_every_write_acknowledged_before_it_began() {
    let lockout = HashMap::from([("DIGIT_USER__LOCKOUT__MAX_INVALID_ATTEMPTS", "2".to_owned())]);
    let source = tempfile::tempdir().unwrap();
    let app = Process::start(source.path(), &lockout).unwrap();
    for i in 0..10 {
        assert_eq!(create(&app.base, &format!("EMP-{i}")), 200);
    }
    // failures from an address the user logs in from lock the account (from a stranger's: only that address)
    assert_eq!(login(&app.base, "EMP-0", "Abcdef1@").0, 200);
    login(&app.base, "EMP-0", "Wrong1@pw");
    let (_, locked) = login(&app.base, "EMP-0", "Wrong1@pw");
    assert_eq!(locked["error_description"], "Account locked");

    // a writer creating users for as long as the backup runs
    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let writer = {
        let (base, stop, acked) = (app.base.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                if create(&base, &format!("LOAD-{n}")) == 200 {
                    acked.store(n + 1, Ordering::SeqCst);
                }
                n += 1;
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 5 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let acked_before = acked.load(Ordering::SeqCst);
    let file = source.path().join("state.backup");
    let out = admin(
        &[
            "backup",
            "--url",
            &app.internal,
            "--to",
            file.to_str().unwrap(),
        ],
        source.path(),
        &HashMap::new(),
    );
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("entries, checked"), "{}", said(&out));
    assert!(!source.path().join("state.backup.partial").exists());
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));

    // restore into an empty dir, keys from outside
    let keys = secrets_of(source.path());
    let target = tempfile::tempdir().unwrap();
    let restored = target.path().join("data");
    let out = admin(
        &["restore", "--from", file.to_str().unwrap()],
        &restored,
        &keys,
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(!restored.join("secrets").exists(), "no key was generated");
    let mut env = keys.clone();
    env.extend(lockout.clone());
    let app = Process::start(&restored, &env).unwrap();
    let names = user_names(&app.base);
    for i in 0..10 {
        assert!(names.contains(&format!("EMP-{i}")), "EMP-{i}");
    }
    for n in 0..acked_before {
        assert!(
            names.contains(&format!("LOAD-{n}")),
            "LOAD-{n} was acknowledged before the backup"
        );
    }
    assert_eq!(
        login(&app.base, "EMP-1", "Abcdef1@").0,
        200,
        "passwords work"
    );
    let (_, still) = login(&app.base, "EMP-0", "Abcdef1@");
    assert_eq!(
        still["error_description"], "Account locked",
        "the lock came back"
    );
    assert_eq!(
        create(&app.base, "EMP-1"),
        400,
        "a restored userName is taken"
    );
    assert_eq!(create(&app.base, "AFTER-RESTORE"), 200);
    drop(app);

    // refused: a used dir, a restore without the keys, a damaged file — nothing written
    let again = admin(
        &["restore", "--from", file.to_str().unwrap()],
        &restored,
        &keys,
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        said(&again).contains("already holds a store"),
        "{}",
        said(&again)
    );
    let keyless_dir = target.path().join("keyless");
    let keyless = admin(
        &["restore", "--from", file.to_str().unwrap()],
        &keyless_dir,
        &HashMap::new(),
    );
    assert_eq!(keyless.status.code(), Some(1));
    assert!(said(&keyless).contains("secrets"), "{}", said(&keyless));
    assert!(!keyless_dir.join("db").exists() && !keyless_dir.join("secrets").exists());
    let mut strangers = keys.clone();
    for (var, value) in strangers.iter_mut() {
        // another deployment's keys: same format, other bytes
        let fresh = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        *value = if *var == "DIGIT_USER_SEALING_KEYS" {
            format!("1:{fresh}")
        } else {
            fresh
        };
    }
    let stranger_dir = target.path().join("stranger");
    let stranger = admin(
        &["restore", "--from", file.to_str().unwrap()],
        &stranger_dir,
        &strangers,
    );
    assert_eq!(stranger.status.code(), Some(1));
    assert!(
        said(&stranger).contains("not authenticated"),
        "{}",
        said(&stranger)
    );
    assert!(!stranger_dir.join("db").exists());
    let cut = target.path().join("cut.backup");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let damaged_dir = target.path().join("damaged");
    let damaged = admin(
        &["restore", "--from", cut.to_str().unwrap()],
        &damaged_dir,
        &keys,
    );
    assert_eq!(damaged.status.code(), Some(1));
    assert!(
        said(&damaged).contains("not a whole backup"),
        "{}",
        said(&damaged)
    );
    assert!(!damaged_dir.join("db").exists());

    // a stopped service's data dir, offline, with its keys wrapped under a passphrase
    let offline = source.path().join("offline.backup");
    let out = admin_piped(
        &[
            "backup",
            "--offline",
            "--with-keys",
            "--to",
            offline.to_str().unwrap(),
        ],
        source.path(),
        "a long passphrase\n",
    );
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("with the keys"), "{}", said(&out));
    let raw = std::fs::read(&offline).unwrap();
    for key in keys.values() {
        let needle = key.split(':').next_back().unwrap().as_bytes();
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "a key in clear"
        );
    }
    let wrong_dir = target.path().join("wrong-passphrase");
    let wrong = admin_piped(
        &["restore", "--from", offline.to_str().unwrap()],
        &wrong_dir,
        "not the passphrase\n",
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        said(&wrong).contains("passphrase does not open"),
        "{}",
        said(&wrong)
    );
    assert!(!wrong_dir.join("db").exists() && !wrong_dir.join("secrets").exists());
    let keyed = target.path().join("keyed");
    let out = admin_piped(
        &["restore", "--from", offline.to_str().unwrap()],
        &keyed,
        "a long passphrase\n",
    );
    assert!(out.status.success(), "{}", said(&out));
    // no keys from outside: the service finds the installed ones
    let app = Process::start(&keyed, &lockout).unwrap();
    assert!(user_names(&app.base).contains(&"EMP-3".to_owned()));
    assert_eq!(login(&app.base, "EMP-3", "Abcdef1@").0, 200);
}
