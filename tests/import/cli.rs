//! `digit-user admin import` and `import verify`, the real binary against a real PostgreSQL holding
//! egov-user's tables (PII sealed by an independent implementation of egov-enc-service's scheme, its key
//! table beside them), then the service started on the data dir: every imported user found by uuid, id,
//! userName and mobile number, passwords logging in (and rehashed), an OTP login, a locked account still
//! locked, new ids above the imported ones, and no PII in clear under the data dir.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::postgres::{Postgres, egov_user_ddl};
use crate::process::Process;

const PASSWORD: &str = "enc-master@pw#1";
pub(crate) const MOBILE: &str = "9876543210";
/// The PII the tests seal; none of it may be found in clear under the data dir.
pub(crate) const PII: [&str; 5] = [
    "Asha Devi",
    MOBILE,
    "Ravi Kumar",
    "#12, Mall Road",
    "Asha Rani",
];
pub(crate) const U_CITIZEN: &str = "0a8f3c51-3d5e-4f0a-9c61-2b7e8d9f0a11";
pub(crate) const U_EMPLOYEE: &str = "1b9a4d62-4e6f-4a1b-8d72-3c8f9eaf1b22";
pub(crate) const U_LOCKED: &str = "2cab5e73-5f70-4b2c-9e83-4d90afb02c33";
const U_LATE: &str = "3dbc6f84-6071-4c3d-8f94-5ea1b0c13d44";
pub(crate) const U_SMALL: &str = "4ecd7095-7182-4d4e-a0a5-6fb2c1d24e55";

/// egov-user's database with five users (one without a uuid) and the enc-service's key table.
pub(crate) struct Source {
    pub(crate) pg: Postgres,
    pub(crate) url: String,
    pub(crate) master: tempfile::NamedTempFile,
    sealed: Vec<String>,
}

fn bcrypt(password: &str) -> String {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA)
}

pub(crate) fn source() -> Source {
    let pg = Postgres::start();
    let url = pg.database("egov_cli", &egov_user_ddl("core"));
    let v = crate::vectors_of(PASSWORD, Some(&json!(PII)));
    let sealed: Vec<String> = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["ciphertext"].as_str().unwrap().to_owned())
        .collect();
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute(
        "CREATE TABLE eg_enc_symmetric_keys (id bigserial PRIMARY KEY, key_id integer NOT NULL, \
         secret_key text NOT NULL, initial_vector text NOT NULL, tenant_id text, active boolean)",
    )
    .unwrap();
    for key in v["keys"].as_array().unwrap() {
        db.execute(
            "INSERT INTO eg_enc_symmetric_keys (key_id, secret_key, initial_vector, tenant_id, active) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &(key["key_id"].as_i64().unwrap() as i32),
                &key["secret_key"].as_str().unwrap(),
                &key["initial_vector"].as_str().unwrap(),
                &key["tenant_id"].as_str().unwrap(),
                &key["active"].as_bool().unwrap(),
            ],
        )
        .unwrap();
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let user =
        |db: &mut postgres::Client, id: i64, uuid: Option<&str>, tenant: &str, name: &str| {
            db.execute(
                "INSERT INTO eg_user (id, uuid, tenantid, username, password, type, active) \
             VALUES ($1, $2, $3, $4, $5, 'EMPLOYEE', true)",
                &[&id, &uuid, &tenant, &name, &bcrypt("Employee1@pw")],
            )
            .unwrap();
        };
    // a citizen and an employee with the same mobile number; the citizen modified long ago
    db.execute(
        "INSERT INTO eg_user (id, uuid, tenantid, username, password, name, mobilenumber, type, active, \
         createddate, lastmodifieddate) VALUES (2300101, $1, 'pb', $2, $3, $4, $5, 'CITIZEN', true, \
         '2024-01-01 10:00:00', '2024-02-01 10:00:00')",
        &[&U_CITIZEN, &MOBILE, &bcrypt("Citizen1@pw"), &sealed[0], &sealed[1]],
    )
    .unwrap();
    user(
        &mut db,
        2300102,
        Some(U_EMPLOYEE),
        "pb.amritsar",
        "EMP-AMR-1",
    );
    db.execute(
        "UPDATE eg_user SET name = $1, mobilenumber = $2 WHERE id = 2300102",
        &[&sealed[2], &sealed[1]],
    )
    .unwrap();
    user(
        &mut db,
        2300103,
        Some(U_LOCKED),
        "pb.amritsar",
        "EMP-LOCKED",
    );
    db.execute(
        "UPDATE eg_user SET accountlocked = true, accountlockeddate = $1 WHERE id = 2300103",
        &[&now_ms],
    )
    .unwrap();
    // no uuid: cannot be stored until the source is mended
    user(&mut db, 2300104, None, "pb.amritsar", "EMP-LATE");
    user(&mut db, 12, Some(U_SMALL), "pb.amritsar", "EMP-SMALL");
    db.batch_execute(&format!(
        "INSERT INTO eg_userrole_v1 VALUES ('CITIZEN', 'pb', 2300101, 'pb', now()), \
         ('EMPLOYEE', 'pb.amritsar', 2300102, 'pb.amritsar', now()), \
         ('SUPERUSER', 'pb', 2300102, 'pb.amritsar', now()), \
         ('EMPLOYEE', 'pb.amritsar', 2300103, 'pb.amritsar', now()), \
         ('EMPLOYEE', 'pb.amritsar', 12, 'pb.amritsar', now()); \
         INSERT INTO eg_user_address (id, createddate, createdby, type, address, city, pincode, userid, tenantid) \
         VALUES (1, now(), 1, 'PERMANENT', '{}', 'Amritsar', '143001', 2300102, 'pb.amritsar')",
        sealed[3]
    ))
    .unwrap();
    let master = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(master.path(), v["master"].to_string()).unwrap();
    Source {
        pg,
        url,
        master,
        sealed,
    }
}

/// `digit-user admin import <args>` against `source` into `data_dir`.
fn import(source: &Source, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .args(["admin", "import"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--enc-master")
        .arg(source.master.path())
        .env("DIGIT_USER_IMPORT_FROM", &source.url)
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .output()
        .unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn login(base: &str, user: &str, password: &str, tenant: &str, kind: &str) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/user/oauth/token"))
        .header("authorization", "Basic ZWdvdi11c2VyLWNsaWVudDo=")
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("tenantId", tenant),
            ("userType", kind),
        ])
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// The code of the one SMS the service wrote to its file sink, once it is there.
fn code_sent(data_dir: &Path) -> String {
    for _ in 0..200 {
        let text =
            std::fs::read_to_string(data_dir.join("notifications.jsonl")).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            let n: Value = serde_json::from_str(line).unwrap();
            return n["payload"]["message"]
                .as_str()
                .unwrap()
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
                .unwrap()
                .to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no SMS within 10 s");
}

/// Asserts that no file under `dir` but the SMS file holds the tests' PII or an imported userName in clear.
pub(crate) fn no_pii_under(dir: &Path) {
    for file in files_under(dir) {
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

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn egov_user_s_users_move_in_with_their_ids_and_uuids_resumably_and_verified() {
    let src = source();
    let dir = tempfile::tempdir().unwrap();

    let dry = stdout(&import(&src, dir.path(), &["--dry-run"]));
    assert!(dry.contains("5 rows read, 4 new"), "{dry}");
    assert!(
        !dir.path().join("import").exists(),
        "a dry run keeps no progress"
    );

    // in two runs: the first stops at its limit, the second resumes
    let first = stdout(&import(&src, dir.path(), &["--batch", "2", "--limit", "2"]));
    assert!(first.contains("stopped at --limit"), "{first}");
    let second = stdout(&import(&src, dir.path(), &["--batch", "2"]));
    assert!(second.contains("an interrupted pass resumed"), "{second}");
    assert!(
        second.contains("5 rows read, 4 new, 0 updated, 0 unchanged, 1 skipped"),
        "{second}"
    );
    assert!(second.contains("2300104 pb.amritsar: no uuid"), "{second}");

    // verify fails while a row could not be stored
    let verify = |sample: &str| {
        Command::new(env!("CARGO_BIN_EXE_digit-user"))
            .args(["admin", "import", "verify", "--sample-every", sample])
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--enc-master")
            .arg(src.master.path())
            .env("DIGIT_USER_IMPORT_FROM", &src.url)
            .output()
            .unwrap()
    };
    let failed = verify("1");
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("1 rows cannot be stored"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );

    // a re-run reads the rows modified since (and those with no date) and changes nothing
    let again = stdout(&import(&src, dir.path(), &[]));
    assert!(
        again.contains("rows modified since the last pass"),
        "{again}"
    );
    assert!(again.contains("0 new, 0 updated"), "{again}");

    // the source mends one row and renames a citizen: the delta brings both
    let mut db = postgres::Client::connect(&src.url, postgres::NoTls).unwrap();
    db.execute(
        "UPDATE eg_user SET uuid = $1, lastmodifieddate = localtimestamp WHERE id = 2300104",
        &[&U_LATE],
    )
    .unwrap();
    db.execute(
        "UPDATE eg_user SET name = $1, lastmodifieddate = localtimestamp WHERE id = 2300101",
        &[&src.sealed[4]],
    )
    .unwrap();
    let delta = stdout(&import(&src, dir.path(), &[]));
    assert!(delta.contains("1 new, 1 updated"), "{delta}");
    let verified = verify("1");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("verified 5 rows"));

    // the service on the data dir finds them by every key and logs them in
    let app = Process::start(
        dir.path(),
        &HashMap::from([("DIGIT_USER__LOG__LEVEL", "info".to_owned())]),
    )
    .unwrap();
    for (key, value, tenant) in [
        ("uuid", json!([U_EMPLOYEE]), "pb.amritsar"),
        ("id", json!([2300102]), "pb.amritsar"),
        ("userName", json!("EMP-AMR-1"), "pb.amritsar"),
        ("mobileNumber", json!(MOBILE), "pb.amritsar"),
    ] {
        let (status, body) = post(
            &app.internal,
            "/user/_search",
            &json!({"tenantId": tenant, key: value, "userType": "EMPLOYEE"}),
        );
        assert_eq!(status, 200, "{body}");
        let users = body["user"].as_array().unwrap();
        assert_eq!(users.len(), 1, "by {key}: {body}");
        assert_eq!(users[0]["uuid"], U_EMPLOYEE);
        assert_eq!(users[0]["id"], 2300102);
        assert_eq!(users[0]["name"], "Ravi Kumar");
        assert_eq!(users[0]["permanentAddress"], "#12, Mall Road");
    }
    let (status, body) = post(
        &app.internal,
        "/user/_search",
        &json!({"tenantId": "pb", "uuid": [U_CITIZEN]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"][0]["name"], "Asha Rani", "the delta's rename");
    assert_eq!(body["user"][0]["id"], 2300101);

    let (status, body) = login(
        &app.base,
        "EMP-AMR-1",
        "Employee1@pw",
        "pb.amritsar",
        "EMPLOYEE",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["UserRequest"]["uuid"], U_EMPLOYEE);
    let (status, _) = login(
        &app.base,
        "EMP-AMR-1",
        "Employee1@pw",
        "pb.amritsar",
        "EMPLOYEE",
    );
    assert_eq!(status, 200, "the rehashed password logs in too");
    let (status, body) = login(
        &app.base,
        "EMP-LOCKED",
        "Employee1@pw",
        "pb.amritsar",
        "EMPLOYEE",
    );
    assert_ne!(status, 200, "a locked account stays locked: {body}");

    // OTP login of the imported citizen
    let (status, body) = post(
        &app.base,
        "/user-otp/v1/_send",
        &json!({"otp": {"mobileNumber": MOBILE, "tenantId": "pb", "type": "login", "userType": "CITIZEN"}}),
    );
    assert_eq!(status, 201, "{body}");
    let code = code_sent(dir.path());
    let (status, body) = login(&app.base, MOBILE, &code, "pb", "CITIZEN");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["UserRequest"]["uuid"], U_CITIZEN);

    // a user created now gets an id above every imported one
    let (status, body) = post(
        &app.base,
        "/user/users/_createnovalidate",
        &json!({"user": {"userName": "EMP-NEW-1", "name": "New Hire", "mobileNumber": "9123456789",
            "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "Newhire1@pw",
            "roles": [{"code": "EMPLOYEE"}]}}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["user"][0]["id"].as_i64().unwrap() > 2300104, "{body}");
    let (status, log) = app.stop_with_log(Signal::SIGTERM);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        log.matches("imported password hash upgraded to argon2id")
            .count(),
        1,
        "the bcrypt hash was replaced at the first login: {log}"
    );
    for value in PII.iter().chain(&["EMP-AMR-1"]) {
        assert!(!log.contains(value), "{value:?} logged");
    }

    no_pii_under(dir.path());
    drop(src.pg);
}
