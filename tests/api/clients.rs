//! DIGIT's own clients as they run today: the web UI's OTP screens (`@egovernments/digit-ui-libraries`
//! 1.8.2 with `digit-ui-module-core` 1.5.39), DIGIT's tracer headers and egov-user's deployment settings,
//! each request exactly as they send it (mGramSeva's app and HRMS: `mgramseva.rs`). Time is a manual clock,
//! so a ten-minute resend schedule runs in a second.

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
        app.settled_notifications().await;
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
        app.settled_notifications().await;
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
    // at warn, as production runs: the request's span must exist at any level
    let env = HashMap::from([
        ("DIGIT_USER__LOG__FORMAT", "json".to_owned()),
        ("DIGIT_USER__LOG__LEVEL", "warn".to_owned()),
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
        .find(|l| l.contains("names several employees of the state"))
        .unwrap_or_else(|| panic!("the ambiguity is logged: {log}"));
    let entry: Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["span"]["correlation_id"], "corr-7a1d", "{line}");
    assert!(
        !line.contains("9876543210"),
        "no mobile number in logs: {line}"
    );
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
