//! Moving a DIGIT state's users in from egov-user (issue 19): egov-enc-service's ciphertexts read offline,
//! against vectors an independent implementation of its scheme writes (`enc_service.py`, Python's
//! `cryptography`): a wrong reading of the format cannot pass by round-tripping through our own encoder;
//! egov-user's tables read from a real PostgreSQL (`source.rs`); `admin import` and `import verify` run
//! end to end, then the service on what they wrote (`cli.rs`); and through a running 3-pod cluster with the
//! journal (`cluster.rs`).

#[allow(dead_code)]
#[path = "../kafka/broker.rs"]
mod broker;
mod cli;
mod cluster;
#[path = "../api/helpers/journal.rs"]
mod journal_env;
#[allow(dead_code)] // the cluster tests use all of it
#[path = "../cluster/node.rs"]
mod node;
mod postgres;
/// What the broker and the pods take from the test helpers of the crates that have them (one set of
/// ports handed out per test process).
mod helpers {
    pub use crate::process::free_port;
}
#[path = "../api/helpers/process.rs"]
#[allow(dead_code)] // the api tests use all of it
mod process;
mod source;

use std::process::Command;

use digit_user::import::enc::{EncError, EncKeys, KeyRow, MasterKey};
use serde_json::Value;

/// The vectors, from the script run with `password` as the master password.
fn vectors(password: &str) -> Value {
    vectors_of(password, None)
}

/// The vectors; with `seal`, those plaintexts (a JSON list) sealed under one key.
pub(crate) fn vectors_of(password: &str, seal: Option<&Value>) -> Value {
    // scripts/test.sh points this at a venv with `cryptography`; else the system's python3
    let python = std::env::var("DIGIT_USER_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/import/enc_service.py");
    let mut cmd = Command::new(&python);
    cmd.arg(script).arg(password);
    if seal.is_some() {
        cmd.arg("--seal");
    }
    let out = process::run_piped(&mut cmd, &seal.map(|s| s.to_string()).unwrap_or_default());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn master(v: &Value, password: &str) -> MasterKey {
    let m = &v["master"];
    MasterKey::derive(
        password,
        m["salt"].as_str().unwrap(),
        m["initialvector"].as_str().unwrap(),
    )
    .unwrap()
}

fn rows(v: &Value) -> Vec<KeyRow> {
    serde_json::from_value(v["keys"].clone()).unwrap()
}

#[test]
fn every_value_egov_enc_service_wrote_reads_back_under_its_key_active_or_rotated() {
    let password = "asd@#$@$!132123";
    let v = vectors(password);
    let keys = EncKeys::open(&master(&v, password), &rows(&v)).unwrap();
    assert_eq!(keys.len(), 2);
    let values = v["values"].as_array().unwrap();
    assert!(values.len() >= 14, "both keys, several fields");
    for value in values {
        let plain = keys.decrypt(value["ciphertext"].as_str().unwrap()).unwrap();
        assert_eq!(plain.as_str(), value["plaintext"].as_str().unwrap());
    }
}

#[test]
fn another_master_password_a_changed_value_or_a_missing_key_is_refused_naming_the_key_only() {
    let password = "another password, another deployment";
    let v = vectors(password);
    let wrong = master(&v, "asd@#$@$!132123");
    let err = EncKeys::open(&wrong, &rows(&v)).err().expect("refused");
    assert!(
        matches!(
            err,
            EncError::KeyRow {
                key_id: 896077,
                column: "secret_key"
            }
        ),
        "{err}"
    );

    let keys = EncKeys::open(&master(&v, password), &rows(&v)[..1]).unwrap();
    let first = v["values"][0]["ciphertext"].as_str().unwrap();
    let (id, body) = first.split_once('|').unwrap();
    let mut sealed = base64_decode(body);
    sealed[0] ^= 1;
    let changed = format!("{id}|{}", base64_encode(&sealed));
    let err = keys.decrypt(&changed).unwrap_err();
    assert_eq!(err, EncError::Tag(896077));
    assert!(
        !err.to_string()
            .contains(v["values"][0]["plaintext"].as_str().unwrap()),
        "no value in the message"
    );
    let rotated = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key_id"] == 123)
        .unwrap();
    assert_eq!(
        keys.decrypt(rotated["ciphertext"].as_str().unwrap()),
        Err(EncError::UnknownKey(123)),
        "a key the export left out"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
