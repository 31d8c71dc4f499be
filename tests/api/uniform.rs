//! `security.uniform_answers`: the answers that would tell a guesser whether an account exists are
//! byte-identical for known and unknown accounts, and none comes before the floor.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const FLOOR_MS: u64 = 150;

async fn uniform_app() -> TestApp {
    spawn_app_with(|s| {
        s.security.uniform_answers = true;
        s.security.answer_floor_ms = FLOOR_MS;
    })
    .await
}

/// Status and body bytes of the answer to `request`, and how long it took.
async fn timed(request: reqwest::RequestBuilder) -> ((u16, Vec<u8>), Duration) {
    let started = Instant::now();
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap().to_vec();
    ((status, bytes), started.elapsed())
}

/// A JSON POST from `ip`, timed.
async fn raw(app: &TestApp, ip: &str, path: &str, body: &Value) -> ((u16, Vec<u8>), Duration) {
    let request = reqwest::Client::new()
        .post(format!("{}{path}", app.public))
        .header("x-real-ip", ip)
        .json(body);
    timed(request).await
}

/// A password grant from `ip`, timed.
async fn token(app: &TestApp, ip: &str, user: &str, password: &str) -> ((u16, Vec<u8>), Duration) {
    let request = reqwest::Client::new()
        .post(format!("{}/user/oauth/token", app.public))
        .basic_auth("egov-user-client", Some(""))
        .header("x-real-ip", ip)
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
            ("scope", "read"),
        ]);
    timed(request).await
}

/// A no-login password update of `user` with a code and a new password, from `ip`.
async fn reset(app: &TestApp, ip: &str, user: &str, new: &str) -> ((u16, Vec<u8>), Duration) {
    let body = json!({"RequestInfo": {}, "otpReference": "123456", "userName": user, "newPassword": new,
                      "tenantId": "pb.amritsar", "type": "EMPLOYEE"});
    raw(app, ip, "/user/password/nologin/_update", &body).await
}

fn send(mobile: &str, kind: &str) -> Value {
    json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": kind, "userType": "citizen"}})
}

fn text(answer: &(u16, Vec<u8>)) -> String {
    format!("{} {}", answer.0, String::from_utf8_lossy(&answer.1))
}

#[actix_web::test]
async fn otp_sends_answer_alike_for_known_and_unknown_numbers_and_never_before_the_floor() {
    let app = uniform_app().await;
    let known = "9123400001";
    app.create(
        json!({"userName": known, "name": "Citizen", "mobileNumber": known, "type": "CITIZEN",
               "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    for (n, kind) in ["login", "passwordreset", "register"]
        .into_iter()
        .enumerate()
    {
        let unknown = format!("912350000{n}");
        let (a, took_a) = raw(
            &app,
            "198.51.100.1",
            "/user-otp/v1/_send",
            &send(known, kind),
        )
        .await;
        let (b, took_b) = raw(
            &app,
            "198.51.100.2",
            "/user-otp/v1/_send",
            &send(&unknown, kind),
        )
        .await;
        assert_eq!(text(&a), text(&b), "{kind}: known and unknown answer alike");
        assert_eq!(a.0, 201, "{kind}: {}", text(&a));
        for took in [took_a, took_b] {
            assert!(took >= Duration::from_millis(FLOOR_MS), "{kind}: {took:?}");
        }
    }
    // only the known number got a code: the login's (the reset's fell in the number's cooldown, answered
    // alike all the same; registering it again sends nothing)
    app.settled_notifications().await;
    assert_eq!(app.sms_to(known).len(), 1);
    assert!(app.sms_to("9123500000").is_empty());
}

#[actix_web::test]
async fn a_no_login_password_update_answers_alike_for_unknown_locked_and_wrong_code() {
    let app = uniform_app().await;
    app.create(json!({"userName": "EMP-UNI", "name": "Employee", "mobileNumber": "9123400002",
                      "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "Abcdef1@",
                      "roles": [{"code": "EMPLOYEE"}]}))
        .await;
    let (known, _) = reset(&app, "198.51.100.3", "EMP-UNI", "Reset1@pw").await;
    let (unknown, took) = reset(&app, "198.51.100.3", "EMP-NOBODY", "Reset1@pw").await;
    assert_eq!(text(&known), text(&unknown));
    assert_eq!(known.0, 400, "{}", text(&known));
    assert!(
        !text(&unknown).contains("UserNotFound"),
        "{}",
        text(&unknown)
    );
    assert!(took >= Duration::from_millis(FLOOR_MS), "{took:?}");
    // a weak new password is refused for both alike: the policy speaks before the lookup
    let (known_weak, _) = reset(&app, "198.51.100.3", "EMP-UNI", "weak").await;
    let (unknown_weak, _) = reset(&app, "198.51.100.3", "EMP-NOBODY", "weak").await;
    assert_eq!(text(&known_weak), text(&unknown_weak));
    assert_ne!(text(&known_weak), text(&known), "the policy's own answer");
    // the account locked (failures from its own address): still the wrong code's answer
    assert_eq!(
        token(&app, "198.51.100.4", "EMP-UNI", "Abcdef1@").await.0.0,
        200
    );
    for _ in 0..5 {
        token(&app, "198.51.100.4", "EMP-UNI", "Wrong1@pw").await;
    }
    let (locked, _) = reset(&app, "198.51.100.4", "EMP-UNI", "Reset1@pw").await;
    assert_eq!(text(&locked), text(&unknown));
}

#[actix_web::test]
async fn a_locked_account_answers_a_login_as_an_unknown_user_does() {
    let app = uniform_app().await;
    app.create(json!({"userName": "EMP-LOCK", "name": "Employee", "mobileNumber": "9123400003",
                      "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "Abcdef1@",
                      "roles": [{"code": "EMPLOYEE"}]}))
        .await;
    let home = "198.51.100.5";
    assert_eq!(token(&app, home, "EMP-LOCK", "Abcdef1@").await.0.0, 200);
    let (wrong, took) = token(&app, home, "EMP-LOCK", "Wrong1@pw").await;
    assert!(took >= Duration::from_millis(FLOOR_MS), "{took:?}");
    for _ in 0..4 {
        token(&app, home, "EMP-LOCK", "Wrong1@pw").await;
    }
    let (locked, took) = token(&app, home, "EMP-LOCK", "Abcdef1@").await;
    let (unknown, _) = token(&app, home, "EMP-NOBODY", "Abcdef1@").await;
    assert_eq!(text(&locked), text(&unknown), "locked and unknown alike");
    assert_eq!(text(&wrong), text(&unknown), "and a wrong password");
    assert!(!text(&locked).contains("locked"), "{}", text(&locked));
    assert!(took >= Duration::from_millis(FLOOR_MS), "{took:?}");
    let user = app
        .search_v1(json!({"tenantId": "pb.amritsar", "userName": "EMP-LOCK"}))
        .await;
    assert_eq!(
        user[0]["accountLocked"], true,
        "the lock itself still holds"
    );
}

#[actix_web::test]
async fn registering_a_taken_number_with_a_wrong_code_answers_as_for_a_free_one() {
    let app = uniform_app().await;
    let taken = "9123400004";
    app.create(
        json!({"userName": taken, "name": "Citizen", "mobileNumber": taken, "type": "CITIZEN",
               "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    let register = |mobile: &str| {
        json!({"RequestInfo": {"apiId": "Rainmaker"},
               "User": {"name": "Asha Devi", "username": mobile, "otpReference": "123456", "tenantId": "pb"}})
    };
    let (known, _) = raw(
        &app,
        "198.51.100.6",
        "/user/citizen/_create",
        &register(taken),
    )
    .await;
    let (free, _) = raw(
        &app,
        "198.51.100.6",
        "/user/citizen/_create",
        &register("9123400005"),
    )
    .await;
    assert_eq!(text(&known), text(&free));
    assert_eq!(known.0, 400, "{}", text(&known));
    assert!(!text(&known).contains("Duplicate"), "{}", text(&known));
}
