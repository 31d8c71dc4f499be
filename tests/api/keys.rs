//! Key rotation (`digit-user admin rotate-keys`): new sealing, token and pepper keys in force on a running
//! service — the token of a login before it still works, a code sent before it still logs in and is re-sent
//! unchanged, every value is re-sealed under the new key with no personal data in clear, and an old key is
//! dropped only once nothing is sealed under it.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Via, employee, spawn_app_with};

const CITIZEN: &str = "9123800001";

async fn keys(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", app.internal);
    let resp = match path.contains("/_") {
        true => client.post(url),
        false => client.get(url),
    }
    .send()
    .await
    .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let json: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    json["kid"].as_str().unwrap().to_owned()
}

fn sealing_file(app: &TestApp) -> std::path::PathBuf {
    app.data_dir.join("secrets").join("sealing_keys")
}

#[actix_web::test]
async fn a_rotation_logs_nobody_out_kills_no_code_and_leaves_nothing_under_the_old_key() {
    let app = spawn_app_with(|s| s.otp.resend_cooldown_secs = 0).await;
    let mut e = employee("EMP-ROT");
    e["password"] = json!("Abcdef1@");
    e["name"] = json!("Zebulon Quixote");
    e["emailId"] = json!("zebulon@example.org");
    let uuid = app.create(e).await["uuid"].as_str().unwrap().to_owned();
    app.create(
        json!({"userName": CITIZEN, "name": "Citizen", "mobileNumber": CITIZEN, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    let (status, before) = app
        .login("EMP-ROT", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "{before}");
    let old_access = before["access_token"].as_str().unwrap().to_owned();
    let code = app.otp_for(CITIZEN, "pb", "login", "CITIZEN").await;

    // a sealing key added and loaded, not yet used; then the key in use cannot be taken away
    let added = digit_user::secrets::rotate::add_key(
        digit_user::secrets::SEALING_KEYS,
        &app.data_dir,
        &digit_user::config::MapEnv::default(),
    )
    .unwrap();
    assert_eq!(added, 2);
    let (status, loaded) = keys(&app, "/admin/keys/_load").await;
    assert_eq!(status, StatusCode::OK, "{loaded}");
    assert_eq!(loaded["keys"]["sealing"]["ids"], json!([1, 2]));
    assert_eq!(loaded["keys"]["sealing"]["current"], 1, "loaded, not used");
    let both = std::fs::read_to_string(sealing_file(&app)).unwrap();
    let only_new = both.split(',').nth(1).unwrap().to_owned();
    std::fs::write(sealing_file(&app), &only_new).unwrap();
    let (status, body) = keys(&app, "/admin/keys/_load").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["Errors"][0]["code"], "KEYS_REFUSED");
    std::fs::write(sealing_file(&app), &both).unwrap();

    // the rotation, as an operator runs it, counting a backup taken before it
    let backup = app.data_dir.join("before.backup").display().to_string();
    app.admin(&["backup", "--to", &backup]).await;
    let data_dir = app.data_dir.display().to_string();
    let said = app
        .admin(&[
            "rotate-keys",
            "--add",
            "--data-dir",
            &data_dir,
            "--backups",
            &backup,
        ])
        .await
        .join("\n");
    assert!(
        said.contains(&format!("backup {backup}: values by sealing key {{1: ")),
        "a backup from before needs key 1: {said}"
    );
    assert!(said.contains("values re-sealed"), "{said}");
    let (_, picture) = keys(&app, "/admin/keys?count=true").await;
    assert_eq!(picture["keys"]["sealing"]["current"], 3, "{picture}");
    assert_eq!(picture["keys"]["token"]["current"], 2);
    assert_eq!(picture["keys"]["pepper"]["current"], 2);
    assert_eq!(
        picture["sealedByKey"],
        json!({"3": picture["sealedByKey"]["3"]}),
        "{picture}"
    );
    assert!(picture["sealedByKey"]["3"].as_u64().unwrap() >= 4);
    assert!(said.contains("[1, 2]"), "keys 1 and 2 may go: {said}");

    // nobody logged out, and new tokens carry the new key
    assert_eq!(app.details(&old_access).await.0, StatusCode::OK);
    let (status, after) = app
        .login("EMP-ROT", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        kid(after["access_token"].as_str().unwrap()),
        kid(&old_access)
    );
    let (status, refreshed) = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", before["refresh_token"].as_str().unwrap()),
            ],
            Via::Query,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a session from before refreshes: {refreshed}"
    );

    // the code sent before is re-sent unchanged and still logs in
    assert_eq!(app.otp_for(CITIZEN, "pb", "login", "CITIZEN").await, code);
    let (status, body) = app.login(CITIZEN, &code, "pb", "CITIZEN").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // the data reads back, and nothing personal is in clear
    let read_back = |app: &TestApp| {
        app.store
            .users()
            .get_by_uuid(&uuid)
            .unwrap()
            .expect("the user reads back")
    };
    assert_eq!(read_back(&app).name.as_deref(), Some("Zebulon Quixote"));
    let stored = actors::testing::contents(&app.store);
    for secret in ["Zebulon", "zebulon@example.org", CITIZEN] {
        assert!(
            stored
                .values()
                .all(|v| !String::from_utf8_lossy(v).contains(secret)),
            "{secret} in clear"
        );
    }

    // the old sealing keys go; what is stored still opens
    let keys_text = std::fs::read_to_string(sealing_file(&app)).unwrap();
    let newest = keys_text
        .split(',')
        .find(|k| k.starts_with("3:"))
        .unwrap()
        .to_owned();
    std::fs::write(sealing_file(&app), &newest).unwrap();
    let (status, body) = keys(&app, "/admin/keys/_load").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["keys"]["sealing"]["ids"], json!([3]));
    assert_eq!(
        read_back(&app).email_id.as_deref(),
        Some("zebulon@example.org")
    );
}
