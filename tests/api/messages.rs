//! The SMS text of each flow, with DIGIT core's codes and with mGramSeva's, and a state's own templates
//! imported from egov-localization with `digit-user admin messages import`.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

/// The text of the newest SMS to `mobile` after a `_send` of `send_type`, with the code in it as `N`.
async fn sms_text(
    app: &TestApp,
    mobile: &str,
    tenant: &str,
    send_type: &str,
    user_type: &str,
) -> String {
    let before = app.notifications().len();
    let (status, body) = app
        .post(
            "/user-otp/v1/_send",
            &json!({"otp": {"mobileNumber": mobile, "tenantId": tenant, "type": send_type, "userType": user_type}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sms = app
        .wait_notifications(before + 1)
        .await
        .into_iter()
        .rev()
        .find(|n| n["channel"] == "sms")
        .unwrap();
    let text = sms["payload"]["message"].as_str().unwrap();
    let code = crate::helpers::otp_in(text);
    text.replace(&code, "N")
}

/// An employee of pb.amritsar created with HRMS's default password; userName = mobile.
async fn employee_with_default_password(app: &TestApp, mobile: &str) {
    app.create(
        json!({"userName": mobile, "name": "Gram Sevak", "mobileNumber": mobile, "type": "EMPLOYEE",
                      "tenantId": "pb.amritsar", "active": true, "password": "eGov@123",
                      "roles": [{"code": "EMPLOYEE"}]}),
    )
    .await;
}

async fn reset_password(app: &TestApp, mobile: &str, code: &str) {
    let (status, body) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"otpReference": code, "userName": mobile, "newPassword": "Naljal@2026",
                    "tenantId": "pb.amritsar", "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn digit_core_flows_send_digits_texts() {
    let app = spawn_app_with(|s| s.otp.resend_cooldown_secs = 0).await;
    assert_eq!(
        sms_text(&app, "9700000001", "pb", "register", "citizen").await,
        "Dear Citizen, Your OTP to complete your DIGIT Registration is N."
    );
    app.create(json!({"userName": "9700000002", "name": "Citizen", "mobileNumber": "9700000002",
                      "type": "CITIZEN", "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}))
        .await;
    assert_eq!(
        sms_text(&app, "9700000002", "pb", "login", "citizen").await,
        "Dear Citizen, Your Login OTP is N."
    );
    employee_with_default_password(&app, "9700000003").await;
    assert_eq!(
        sms_text(
            &app,
            "9700000003",
            "pb.amritsar",
            "passwordreset",
            "EMPLOYEE"
        )
        .await,
        "Dear Citizen, Your OTP for recovering password is N.",
        "no first-time code configured: the reset's own"
    );
}

/// mGramSeva's codes, with texts of the state's own so each code shows which one went out.
#[actix_web::test]
async fn mgramseva_flows_send_its_codes_first_time_until_the_password_is_the_users() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("en_IN.toml"),
        r#""RESET_PASSWORD_OTP" = "Forgot password OTP on NalJal is {otp}"
"RESET_PASSWORD_FIRST_TIME_OTP" = "First login OTP on NalJal is {otp}"
"sms.register.otp.msg" = "Dear Citizen, Your OTP to complete your mSeva Registration is %s."
"#,
    )
    .unwrap();
    let messages_dir = dir.path().display().to_string();
    let app = spawn_app_with(move |s| {
        s.otp.resend_cooldown_secs = 0;
        s.otp.messages_dir = messages_dir;
        s.otp.sms_codes.passwordreset = "RESET_PASSWORD_OTP".into();
        s.otp.sms_codes.first_time = "RESET_PASSWORD_FIRST_TIME_OTP".into();
    })
    .await;
    assert_eq!(
        sms_text(&app, "9700000011", "pb", "register", "citizen").await,
        "Dear Citizen, Your OTP to complete your mSeva Registration is N."
    );
    employee_with_default_password(&app, "9700000012").await;
    let first = sms_text(
        &app,
        "9700000012",
        "pb.amritsar",
        "passwordreset",
        "EMPLOYEE",
    )
    .await;
    assert_eq!(first, "First login OTP on NalJal is N");
    let code = crate::helpers::otp_in(
        app.notifications().last().unwrap()["payload"]["message"]
            .as_str()
            .unwrap(),
    );
    reset_password(&app, "9700000012", &code).await;
    assert_eq!(
        sms_text(
            &app,
            "9700000012",
            "pb.amritsar",
            "passwordreset",
            "EMPLOYEE"
        )
        .await,
        "Forgot password OTP on NalJal is N",
        "the password is the user's now"
    );
    // a login OTP of an employee with HRMS's password is the first-time one too (the fork's rule)
    employee_with_default_password(&app, "9700000013").await;
    assert_eq!(
        sms_text(&app, "9700000013", "pb.amritsar", "login", "EMPLOYEE").await,
        "First login OTP on NalJal is N"
    );
}

fn import(file: &Path, dir: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .args(["admin", "messages", "import"])
        .arg(file)
        .arg("--dir")
        .arg(dir)
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn templates_imported_from_egov_localization_are_the_texts_sent() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("messages");
    // an answer of /localization/messages/v1/_search for module egov-user, two locales, one code we never send
    let search_answer = json!({"messages": [
        {"code": "sms.login.otp.msg", "message": "Punjab: your login OTP is %s. -PBGOVT", "module": "egov-user", "locale": "en_IN"},
        {"code": "sms.register.otp.msg", "message": "Punjab: register with OTP %s. -PBGOVT", "module": "egov-user", "locale": "en_IN"},
        {"code": "sms.login.otp.msg", "message": "ਪੰਜਾਬ: ਤੁਹਾਡਾ ਲੌਗਇਨ OTP {otp} ਹੈ", "module": "egov-user", "locale": "pa_IN"},
        {"code": "CORE_COMMON_LOGIN", "message": "Login", "module": "rainmaker-common", "locale": "en_IN"}
    ]});
    let file = work.path().join("egov-user.json");
    std::fs::write(&file, search_answer.to_string()).unwrap();
    let (ok, out, err) = import(&file, &dir);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("en_IN: 2 added, 0 changed, 0 unchanged"),
        "{out}"
    );
    assert!(out.contains("pa_IN: 1 added"), "{out}");
    assert!(out.contains("left out 1 codes"), "{out}");
    let en = std::fs::read_to_string(dir.join("en_IN.toml")).unwrap();
    assert!(!en.contains("CORE_COMMON_LOGIN"));

    // a second import (a seed file) changes one text and keeps the rest
    let seed = json!([{"code": "sms.login.otp.msg", "message": "Punjab: login OTP %s -PBGOVT", "module": "egov-user", "locale": "en_IN"}]);
    let seed_file = work.path().join("seed.json");
    std::fs::write(&seed_file, seed.to_string()).unwrap();
    let (ok, out, err) = import(&seed_file, &dir);
    assert!(
        ok && out.contains("en_IN: 0 added, 1 changed, 0 unchanged"),
        "{out}{err}"
    );

    // a text with no place for the code is refused whole: the files stay as they were
    let broken = json!([{"code": "sms.register.otp.msg", "message": "Register now", "module": "egov-user", "locale": "en_IN"}]);
    let broken_file = work.path().join("broken.json");
    std::fs::write(&broken_file, broken.to_string()).unwrap();
    let before = std::fs::read_to_string(dir.join("en_IN.toml")).unwrap();
    let (ok, _, err) = import(&broken_file, &dir);
    assert!(!ok);
    assert!(err.contains("sms.register.otp.msg"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("en_IN.toml")).unwrap(),
        before
    );

    let messages_dir = dir.display().to_string();
    let app = spawn_app_with(move |s| s.otp.messages_dir = messages_dir).await;
    assert_eq!(
        sms_text(&app, "9700000021", "pb", "register", "citizen").await,
        "Punjab: register with OTP N. -PBGOVT"
    );
    app.create(json!({"userName": "9700000022", "name": "Citizen", "mobileNumber": "9700000022",
                      "type": "CITIZEN", "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}))
        .await;
    let (status, _) = app
        .post(
            "/user-otp/v1/_send",
            &json!({"RequestInfo": {"msgId": "1764000000000|pa_IN"},
                    "otp": {"mobileNumber": "9700000022", "tenantId": "pb", "type": "login"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sms: Vec<Value> = app.wait_notifications(2).await;
    let text = sms[1]["payload"]["message"].as_str().unwrap();
    assert!(text.starts_with("ਪੰਜਾਬ: ਤੁਹਾਡਾ ਲੌਗਇਨ OTP "), "{text}");
}
