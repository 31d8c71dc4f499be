//! DIGIT's own clients as they run today: the web UI's OTP screens (`@egovernments/digit-ui-libraries`
//! 1.8.2 with `digit-ui-module-core` 1.5.39) and the mGramSeva app, each request exactly as they send it.
//! Time is a manual clock, so a ten-minute resend schedule runs in a second.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Via, otp_in, spawn_app_at};

/// The web UI's `Request`: `RequestInfo {apiId, msgId: "<ts>|<locale>"}`, and `?tenantId=&_=<ms>` on the
/// URL.
fn web_ui_send(otp: Value) -> (String, Value) {
    (
        "/user-otp/v1/_send?tenantId=pb&_=1764000000000".to_owned(),
        json!({"RequestInfo": {"apiId": "Rainmaker", "msgId": "1764000000000|en_IN"}, "otp": otp}),
    )
}

/// Waits until every queued notification was delivered, so the file sink stamped it at this moment.
async fn settle(app: &TestApp) {
    for _ in 0..500 {
        if app.store.otp().outbox_depth() == 0 {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("notifications not delivered");
}

/// SMS to `mobile` as delivered: (moment of sending, code), the moment read back from `expiryTime`
/// (delivery time + `notify.sms_expiry_ms`, 3000 by default).
fn sms_log(app: &TestApp, mobile: &str) -> Vec<(i64, String)> {
    app.notifications()
        .into_iter()
        .filter(|n| n["channel"] == "sms" && n["payload"]["mobileNumber"] == mobile)
        .map(|n| {
            (
                n["payload"]["expiryTime"].as_i64().unwrap() - 3000,
                otp_in(n["payload"]["message"].as_str().unwrap()),
            )
        })
        .collect()
}

/// What the limits promise of a log of SMS to one number: at least the cooldown between two, at most 3 per
/// code, at most 5 in any rolling hour.
fn assert_within_limits(log: &[(i64, String)]) {
    for pair in log.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= 30_000, "sms too close: {log:?}");
    }
    for (_, code) in log {
        let per_code = log.iter().filter(|(_, c)| c == code).count();
        assert!(per_code <= 3, "{per_code} sms for one code: {log:?}");
    }
    for (i, (start, _)) in log.iter().enumerate() {
        let in_hour = log[i..]
            .iter()
            .filter(|(t, _)| t - start < 3_600_000)
            .count();
        assert!(in_hour <= 5, "{in_hour} sms in an hour: {log:?}");
    }
}

/// The resend schedule of the web UI's OTP screen: the first send, "Resend OTP" after 30 s, then 2 s after
/// each click for a while, then a patient citizen every 31 s for ten minutes.
fn web_ui_schedule() -> Vec<i64> {
    let mut clicks = vec![0, 30_000];
    clicks.extend((1..=20).map(|i| 30_000 + i * 2_000));
    let last = *clicks.last().unwrap();
    clicks.extend((1..=20).map(|i| last + i * 31_000));
    clicks
}

#[actix_web::test]
async fn the_web_ui_resend_schedule_never_shows_an_error_and_ends_in_a_login() {
    let start = 1_764_000_000_000;
    let clock = actors::Clock::manual(start);
    let app = spawn_app_at(clock.clone(), |_| {}).await;
    let mobile = "9800000001";
    app.create(
        json!({"userName": mobile, "name": "Citizen", "mobileNumber": mobile, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    let (path, body) = web_ui_send(json!({"mobileNumber": mobile, "tenantId": "pb",
                                          "userType": "citizen", "type": "login"}));
    let mut at = 0;
    for click in web_ui_schedule() {
        clock.advance_ms(click - at);
        at = click;
        let (status, _, answer) = app.post_with_headers(&path, &body, &[]).await;
        assert_eq!(
            (status, &answer),
            (
                StatusCode::CREATED,
                &json!({"responseInfo": null, "isSuccessful": true})
            ),
            "click at {click} ms"
        );
        settle(&app).await;
    }
    let log = sms_log(&app, mobile);
    assert_within_limits(&log);
    let first_code = &log[0].1;
    assert_eq!(
        log.iter().filter(|(_, c)| c == first_code).count(),
        3,
        "the first code went out three times: {log:?}"
    );
    assert!(
        log.iter().any(|(_, c)| c != first_code),
        "a new code once the first expired: {log:?}"
    );

    let code = log.last().unwrap().1.clone();
    let (status, tokens) = app
        .token(
            &[
                ("grant_type", "password"),
                ("username", mobile),
                ("password", &code),
                ("tenantId", "pb"),
                ("userType", "citizen"),
                ("scope", "read"),
            ],
            Via::Query,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["UserRequest"]["mobileNumber"], mobile);
}

#[actix_web::test]
async fn a_cap_really_hit_is_429_with_a_message_both_web_ui_screens_render() {
    let clock = actors::Clock::manual(1_764_000_000_000);
    let app = spawn_app_at(clock.clone(), |s| s.otp.max_sends_per_hour = 2).await;
    let mobile = "9800000002";
    let (path, body) = web_ui_send(json!({"mobileNumber": mobile, "tenantId": "pb",
                                          "userType": "citizen", "type": "register"}));
    for _ in 0..2 {
        assert_eq!(
            app.post_with_headers(&path, &body, &[]).await.0,
            StatusCode::CREATED
        );
        settle(&app).await;
        let code = sms_log(&app, mobile).last().unwrap().1.clone();
        // the citizen uses each code, so the next send needs a new one
        assert_eq!(
            app.validate_otp(mobile, "pb", &code).await.0,
            StatusCode::OK
        );
        clock.advance_ms(31_000);
    }
    let (status, headers, answer) = app.post_with_headers(&path, &body, &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    // the citizen screens read the fields, the employee screens `error_description`
    assert_eq!(answer["error"]["fields"][0]["code"], "OTP.RATE_LIMITED");
    assert!(
        answer["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("hourly_cap")
    );
    let description = answer["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("Too many OTP requests. Please try again after ")
            && description.ends_with(" minutes."),
        "{description}"
    );
    for word in ["internal server error", "some error occured"] {
        assert!(
            !description.to_lowercase().contains(word),
            "the web UI redirects to a maintenance page on {word:?}"
        );
    }
}

/// DIGIT's tracer: the `x-correlation-id` header, else `RequestInfo.correlationId`, else a new id — echoed on
/// the response as DIGIT's gateway does.
#[actix_web::test]
async fn correlation_ids_come_from_the_header_or_request_info_and_are_returned() {
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let search =
        json!({"RequestInfo": {"apiId": "Rainmaker"}, "tenantId": "pb", "userName": "nobody"});
    let id_of = |headers: &reqwest::header::HeaderMap| {
        headers["x-correlation-id"].to_str().unwrap().to_owned()
    };
    let (_, headers, _) = app
        .post_with_headers(
            "/user/_search",
            &search,
            &[("x-correlation-id", "3f6e0c9a-gateway")],
        )
        .await;
    assert_eq!(id_of(&headers), "3f6e0c9a-gateway");

    let with_body_id = json!({"RequestInfo": {"apiId": "Rainmaker", "correlationId": "from-request-info"},
                              "tenantId": "pb", "userName": "nobody"});
    let (status, headers, body) = app
        .post_with_headers("/user/_search", &with_body_id, &[])
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the handler still reads the body: {body}"
    );
    assert_eq!(id_of(&headers), "from-request-info");
    let (_, headers, _) = app
        .post_with_headers(
            "/user/_search",
            &with_body_id,
            &[("x-correlation-id", "header-wins")],
        )
        .await;
    assert_eq!(id_of(&headers), "header-wins");

    let mut fresh = Vec::new();
    for header in [None, Some("two words"), Some("")] {
        let extra: Vec<(&str, &str)> = header
            .map(|h| ("x-correlation-id", h))
            .into_iter()
            .collect();
        let (_, headers, _) = app
            .post_with_headers("/user/_search", &search, &extra)
            .await;
        let id = id_of(&headers);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a new id, not {header:?}: {id}"
        );
        fresh.push(id);
    }
    fresh.dedup();
    assert_eq!(fresh.len(), 3, "each request its own id");
}

#[test]
fn correlation_ids_are_on_the_log_lines_of_their_request() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let env = HashMap::from([
        ("DIGIT_USER__LOG__FORMAT", "json".to_owned()),
        ("DIGIT_USER__LOG__LEVEL", "info".to_owned()),
    ]);
    let app = crate::helpers::Process::start(dir.path(), &env).unwrap();
    let client = reqwest::blocking::Client::new();
    // two employees of the state with one mobile number: a reset naming the state cannot choose, and says so
    for (user_name, city) in [("EMP-A", "pb.amritsar"), ("EMP-B", "pb.jalandhar")] {
        let mut employee = crate::helpers::employee(user_name);
        employee["tenantId"] = json!(city);
        let resp = client
            .post(format!("{}/user/users/_createnovalidate", app.base))
            .json(&json!({"RequestInfo": {}, "user": employee}))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = client
        .post(format!("{}/user-otp/v1/_send", app.base))
        .header("x-correlation-id", "corr-7a1d")
        .json(
            &json!({"otp": {"mobileNumber": "9876543210", "tenantId": "pb", "type": "passwordreset",
                              "userType": "Employee"}}),
        )
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, log) = app.stop_with_log(nix::sys::signal::Signal::SIGTERM);
    let line = log
        .lines()
        .find(|l| l.contains("several employees of the state"))
        .unwrap_or_else(|| panic!("the ambiguity is logged: {log}"));
    let entry: Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["span"]["correlation_id"], "corr-7a1d", "{line}");
    assert!(
        !line.contains("9876543210"),
        "no mobile number in logs: {line}"
    );
}

/// An employee as mGramSeva's HRMS creates one: userName = the mobile number, a default password, at a city.
async fn hrms_employee(app: &TestApp, mobile: &str, city: &str) -> Value {
    app.create(
        json!({"userName": mobile, "name": "Gram Sevak", "mobileNumber": mobile, "type": "EMPLOYEE",
                      "tenantId": city, "active": true, "password": "eGov@123",
                      "roles": [{"code": "EMPLOYEE", "tenantId": city}]}),
    )
    .await
}

/// The app's login: a form with the state tenant and `userType=EMPLOYEE`.
async fn app_login(app: &TestApp, user_name: &str, password: &str) -> (StatusCode, Value) {
    app.token(
        &[
            ("username", user_name),
            ("password", password),
            ("scope", "read"),
            ("grant_type", "password"),
            ("tenantId", "pb"),
            ("userType", "EMPLOYEE"),
        ],
        Via::Form,
    )
    .await
}

/// What the app reads after login: `user[0].defaultPwdChgd` of `/user/_search` by its own id and number.
async fn default_pwd_chgd(app: &TestApp, login: &Value) -> Value {
    let me = &login["UserRequest"];
    let (status, found) = app
        .post_gateway(
            "/user/_search",
            &json!({"RequestInfo": {"apiId": "mgramseva", "authToken": login["access_token"]},
                    "tenantId": me["tenantId"], "id": [me["id"]], "mobileNumber": me["mobileNumber"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found["user"][0]["defaultPwdChgd"].clone()
}

#[actix_web::test]
async fn mgramseva_first_login_forces_the_change_of_hrms_default_password_once() {
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let mobile = "9812345670";
    let created = hrms_employee(&app, mobile, "pb.amritsar").await;
    assert_eq!(created["defaultPwdChgd"], false, "the create answer has it");

    let (status, login) = app_login(&app, mobile, "eGov@123").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(
        default_pwd_chgd(&app, &login).await,
        false,
        "so the app forces the change"
    );

    // the UpdatePassword screen: an OTP to the userName, then the no-login reset
    let me = &login["UserRequest"];
    let (status, sent) = app
        .post(
            "/user-otp/v1/_send",
            &json!({"otp": {"mobileNumber": me["userName"], "tenantId": me["tenantId"], "type": "passwordreset",
                            "locale": "en_IN", "userType": me["type"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let code = app.wait_notifications(1).await[0]["payload"]["message"]
        .as_str()
        .map(otp_in)
        .unwrap();
    let (status, reset) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"otpReference": code, "userName": mobile, "newPassword": "Naljal@2026",
                    "tenantId": me["tenantId"], "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");

    let (status, login) = app_login(&app, mobile, "Naljal@2026").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(
        default_pwd_chgd(&app, &login).await,
        true,
        "not forced again"
    );
}

#[actix_web::test]
async fn a_logged_in_password_change_also_ends_the_default_password_and_an_admin_reset_restores_it()
{
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let mobile = "9812345671";
    let created = hrms_employee(&app, mobile, "pb.amritsar").await;
    let (_, login) = app_login(&app, mobile, "eGov@123").await;
    let (status, body) = app
        .post(
            "/user/password/_update",
            &json!({"RequestInfo": {"authToken": login["access_token"],
                                    "userInfo": {"id": created["id"], "uuid": created["uuid"]}},
                    "existingPassword": "eGov@123", "newPassword": "Naljal@2026",
                    "tenantId": "pb.amritsar", "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, login) = app_login(&app, mobile, "Naljal@2026").await;
    assert_eq!(default_pwd_chgd(&app, &login).await, true);

    // HRMS resets the password: a default password again
    let mut user = app.search_v1(json!({"uuid": [created["uuid"]]})).await[0].clone();
    user["password"] = json!("eGov@456");
    let (status, updated) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": {}, "user": user}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(
        updated["user"][0].get("defaultPwdChgd").is_none(),
        "not in update answers, as in the fork"
    );
    let (_, login) = app_login(&app, mobile, "eGov@456").await;
    assert_eq!(default_pwd_chgd(&app, &login).await, false);
}

/// mGramSeva's forgot-password screen, step 1 and 2, for an employee of `pb.amritsar` whose userName is the
/// number typed; the app names the state.
#[actix_web::test]
async fn mgramseva_forgot_password_finds_the_employee_of_a_city_from_the_state() {
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    // userName is the number typed; the stored mobile differs, so the lookup by number finds no one first
    app.create(json!({"userName": "9812345672", "name": "Gram Sevak", "mobileNumber": "9812345679",
                      "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "eGov@123",
                      "roles": [{"code": "EMPLOYEE"}]}))
        .await;
    let forgot = |mobile: &str| {
        json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "passwordreset", "locale": "en_IN",
                       "userType": "Employee"}})
    };
    let (status, body) = app.post("/user-otp/v1/_send", &forgot("9812345672")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sms = &app.wait_notifications(1).await[0]["payload"];
    assert_eq!(sms["mobileNumber"], "9812345679", "to the stored number");
    let code = otp_in(sms["message"].as_str().unwrap());
    let (status, reset) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"otpReference": code, "userName": "9812345672", "newPassword": "Naljal@2026",
                    "tenantId": "pb", "type": "Employee"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(
        app_login(&app, "9812345672", "Naljal@2026").await.0,
        StatusCode::OK
    );

    // by mobile number first: an employee whose stored number is the one typed
    hrms_employee(&app, "9812345673", "pb.jalandhar").await;
    assert_eq!(
        app.post("/user-otp/v1/_send", &forgot("9812345673"))
            .await
            .0,
        StatusCode::CREATED
    );
    // two employees of the state with that number: none is chosen, the contract's error
    let mut twin = crate::helpers::employee("EMP-TWIN");
    twin["mobileNumber"] = json!("9812345673");
    twin["tenantId"] = json!("pb.amritsar");
    app.create(twin).await;
    let (status, body) = app.post("/user-otp/v1/_send", &forgot("9812345673")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::helpers::e2_codes(&body),
        ["OTP.UNKNOWN_MOBILE_NUMBER"]
    );
    // an employee of another state is not found from this one
    hrms_employee(&app, "9812345674", "ka.bangalore").await;
    let (status, body) = app.post("/user-otp/v1/_send", &forgot("9812345674")).await;
    assert_eq!(
        (status, crate::helpers::e2_codes(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["OTP.UNKNOWN_MOBILE_NUMBER".to_owned()]
        )
    );
}

/// mGramSeva's HRMS lists its employees with `/user/_searchByTenant`: `userType`, `tenantIds` and
/// `roleCodes`, no paging keys, no gateway header; it keys the answer by `uuid`.
#[actix_web::test]
async fn mgramseva_hrms_lists_the_employees_of_its_tenants_by_role() {
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let mut created = std::collections::BTreeMap::new();
    for (user_name, roles, active) in [
        (
            "GP-1",
            json!([{"code": "GP_ADMIN", "tenantId": "pb.lodhipur"}]),
            true,
        ),
        (
            "GP-2",
            json!([{"code": "COLLECTION_OPERATOR", "tenantId": "pb.lodhipur"},
                        {"code": "EMPLOYEE", "tenantId": "pb.amritsar"}]),
            false,
        ),
        (
            "GP-3",
            json!([{"code": "GP_ADMIN", "tenantId": "pb.nangal"}]),
            true,
        ),
        (
            "GP-4",
            json!([{"code": "EMPLOYEE", "tenantId": "pb.lodhipur"}]),
            true,
        ),
    ] {
        let user = app
            .create(
                json!({"userName": user_name, "name": "Gram Sevak", "mobileNumber": "9812300000",
                           "type": "EMPLOYEE", "tenantId": "pb.lodhipur", "active": active,
                           "password": "eGov@123", "roles": roles}),
            )
            .await;
        created.insert(user_name, user["uuid"].as_str().unwrap().to_owned());
    }
    let search = |body: Value| {
        let app = &app;
        async move { app.post("/user/_searchByTenant", &body).await }
    };
    let names = |body: &Value| -> Vec<String> {
        body["user"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = search(
        json!({"RequestInfo": {"apiId": "Rainmaker"}, "userType": "EMPLOYEE",
                                       "tenantIds": ["pb.lodhipur"],
                                       "roleCodes": ["GP_ADMIN", "COLLECTION_OPERATOR"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["responseInfo"]["status"], "200");
    assert_eq!(
        names(&body),
        ["GP-1", "GP-2"],
        "inactive users too: no active default"
    );
    let first = &body["user"][0];
    assert_eq!(first["uuid"], created["GP-1"].as_str());
    for key in [
        "createdDate",
        "lastModifiedDate",
        "pwdExpiryDate",
        "dob",
        "roles",
        "defaultPwdChgd",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }

    let (_, body) =
        search(json!({"tenantIds": ["pb.lodhipur", "pb.nangal"], "roleCodes": ["GP_ADMIN"]})).await;
    assert_eq!(names(&body), ["GP-1", "GP-3"]);
    let (_, body) = search(json!({"tenantIds": ["pb.lodhipur"], "active": true})).await;
    assert_eq!(names(&body), ["GP-1", "GP-4"], "any role in the tenant");
    let (_, body) =
        search(json!({"tenantIds": ["pb.amritsar"], "roleCodes": ["EMPLOYEE"], "pageSize": 1}))
            .await;
    assert_eq!(names(&body), ["GP-2"]);
    let (_, body) = search(json!({"tenantIds": ["pb.nowhere"], "roleCodes": ["GP_ADMIN"]})).await;
    assert_eq!(names(&body), Vec::<String>::new());

    for body in [json!({"roleCodes": ["GP_ADMIN"]}), json!({"tenantIds": []})] {
        let (status, answer) = search(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer["Errors"][0]["code"],
            "InvalidUserSearchCriteriaException"
        );
    }
}

/// egov-user's and mGramSeva's deployments set the state-level tenant under their Spring names; those
/// environments start digit-user as they are.
#[test]
fn the_state_level_tenant_of_egov_user_deployments_is_accepted() {
    let check = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_digit-user"));
        cmd.arg("check-config");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = check(&[("EGOV_STATE_LEVEL_TENANT_ID", "pb")]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("state pb"), "{out}");
    let (code, out) = check(&[("STATE_LEVEL_TENANT_ID", "pg")]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = check(&[("EGOV_STATE_LEVEL_TENANT_ID", "pb.amritsar")]);
    assert_eq!(code, Some(2), "a city is not a state: {out}");
    assert!(out.contains("tenants.state_level"), "{out}");
}
