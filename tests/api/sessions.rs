//! Sessions over time (a manual clock): refresh rotation, the grace window and reuse revocation, expiry,
//! and the lockout — limit, message, revoked tokens, cool-down, admin unlock, parallel attempts.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Via, employee, spawn_app_at};

const MIN: i64 = 60_000;

async fn app_at_now(
    tweak: impl FnOnce(&mut digit_user::config::Settings),
) -> (TestApp, actors::Clock) {
    let now = actors::Clock::System.now_ms();
    let clock = actors::Clock::manual(now);
    let app = spawn_app_at(clock.clone(), tweak).await;
    (app, clock)
}

async fn employee_named(app: &TestApp, user_name: &str) -> Value {
    let mut e = employee(user_name);
    e["password"] = json!("Abcdef1@");
    app.create(e).await
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Via::Query,
    )
    .await
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

#[actix_web::test]
async fn refresh_rotates_tolerates_a_race_and_revokes_the_family_on_reuse() {
    let (app, clock) = app_at_now(|_| {}).await;
    employee_named(&app, "EMP-REF").await;
    let (_, login) = app
        .login("EMP-REF", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    let (a1, r1) = (s(&login, "access_token"), s(&login, "refresh_token"));
    assert_eq!(r1.len(), 43, "256 bits, base64url");

    let (status, second) = refresh(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (a2, r2) = (s(&second, "access_token"), s(&second, "refresh_token"));
    assert!(a2 != a1 && r2 != r1, "both rotate");
    assert_eq!(second["UserRequest"]["userName"], "EMP-REF");
    assert_eq!(second["scope"], "read");
    assert_eq!(
        app.details(&a1).await.0,
        StatusCode::BAD_REQUEST,
        "the replaced access token ends"
    );
    assert_eq!(app.details(&a2).await.0, StatusCode::OK);

    // a second tab refreshing with the same token at the same moment still gets tokens
    clock.advance_ms(5_000);
    let (status, raced) = refresh(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "inside the grace window: {raced}");
    assert_eq!(
        app.details(&a2).await.0,
        StatusCode::OK,
        "and revokes nothing"
    );
    let (a3, r3) = (s(&raced, "access_token"), s(&raced, "refresh_token"));
    assert_eq!(
        (&a3, &r3),
        (&a2, &r2),
        "the tokens the first refresh issued: one chain"
    );

    // later, the spent token is a theft signal: the whole family dies
    clock.advance_ms(6_000);
    let (status, body) = refresh(&app, &r1).await;
    assert_eq!(
        (status, s(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    for access in [&a2, &a3] {
        assert_eq!(app.details(access).await.0, StatusCode::BAD_REQUEST);
    }
    for token in [&r2, &r3] {
        assert_eq!(refresh(&app, token).await.0, StatusCode::BAD_REQUEST);
    }

    // a family ends with the refresh validity counted from the login; the access token before it
    let (_, login) = app
        .login("EMP-REF", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    let (a4, r4) = (s(&login, "access_token"), s(&login, "refresh_token"));
    clock.advance_ms(10080 * MIN);
    assert_eq!(
        app.details(&a4).await.0,
        StatusCode::BAD_REQUEST,
        "access token expired"
    );
    let (status, fresh) = refresh(&app, &r4).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    clock.advance_ms(10080 * MIN);
    let (status, body) = refresh(&app, &s(&fresh, "refresh_token")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_token", "error_description": "Invalid refresh token (expired)"})
        )
    );
}

#[actix_web::test]
async fn tokens_carry_no_pii_and_a_citizen_and_an_employee_never_share_a_session() {
    let (app, _) = app_at_now(|s| s.otp.fixed_otp_enabled = true).await;
    let number = "9876500020";
    app.create(json!({"userName": number, "name": "Zebulon Quixote", "mobileNumber": number, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "emailId": "zq@example.org", "roles": [{"code": "CITIZEN"}]}))
        .await;
    let mut e = employee(number);
    e["password"] = json!("Abcdef1@");
    app.create(e).await;
    let (status, citizen) = app.login(number, "123456", "pb", "CITIZEN").await;
    assert_eq!(status, StatusCode::OK, "the fixed OTP switch: {citizen}");
    let (status, employee) = app
        .login(number, "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "{employee}");
    let (_, c) = app.details(&s(&citizen, "access_token")).await;
    let (_, e) = app.details(&s(&employee, "access_token")).await;
    assert_eq!(
        (s(&c, "type"), s(&e, "type")),
        ("CITIZEN".into(), "EMPLOYEE".into())
    );
    assert_ne!(c["uuid"], e["uuid"]);
    assert_ne!(citizen["refresh_token"], employee["refresh_token"]);

    for token in [s(&citizen, "access_token"), s(&employee, "access_token")] {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWT");
        let readable: String = parts[..2]
            .iter()
            .map(|p| {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap();
                String::from_utf8(bytes).unwrap()
            })
            .collect();
        for pii in [number, "Zebulon", "Quixote", "zq@example.org", "Asha"] {
            assert!(
                !readable.contains(pii),
                "{pii} readable in the token: {readable}"
            );
        }
        assert!(
            readable.contains("\"alg\":\"HS256\"") && readable.contains("\"kid\""),
            "{readable}"
        );
    }
}

async fn wrong(app: &TestApp, user: &str) -> Value {
    app.login(user, "Wrong1@pw", "pb.amritsar", "EMPLOYEE")
        .await
        .1
}

fn description(v: &Value) -> String {
    s(v, "error_description")
}

#[actix_web::test]
async fn lockout_limit_message_revocation_cooldown_and_admin_unlock() {
    let (app, clock) = app_at_now(|s| s.lockout.max_invalid_attempts = 3).await;
    employee_named(&app, "EMP-LOCK").await;
    let (_, session) = app
        .login("EMP-LOCK", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    let before = s(&session, "access_token");
    for _ in 0..2 {
        assert_eq!(
            description(&wrong(&app, "EMP-LOCK").await),
            "Invalid login credentials"
        );
    }
    assert_eq!(
        description(&wrong(&app, "EMP-LOCK").await),
        "Account locked",
        "the locking attempt says so"
    );
    let (status, body) = app
        .login("EMP-LOCK", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(
        (status, description(&body)),
        (StatusCode::BAD_REQUEST, "Account locked".into())
    );
    assert_eq!(
        app.details(&before).await.0,
        StatusCode::BAD_REQUEST,
        "locking revokes the user's tokens"
    );
    assert_eq!(
        refresh(&app, &s(&session, "refresh_token")).await.0,
        StatusCode::BAD_REQUEST
    );
    let stored = &app
        .search_v1(json!({"userName": "EMP-LOCK", "tenantId": "pb.amritsar"}))
        .await[0];
    assert_eq!(stored["accountLocked"], true);
    assert!(stored["accountLockedDate"].is_number(), "{stored}");

    clock.advance_ms(60 * MIN);
    let (status, body) = app
        .login("EMP-LOCK", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "the cool-down is over: {body}");
    let stored = &app
        .search_v1(json!({"userName": "EMP-LOCK", "tenantId": "pb.amritsar"}))
        .await[0];
    assert_eq!(stored["accountLocked"], false);

    for _ in 0..3 {
        wrong(&app, "EMP-LOCK").await;
    }
    assert_eq!(
        description(
            &app.login("EMP-LOCK", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
                .await
                .1
        ),
        "Account locked"
    );
    let mut unlock = app
        .search_v1(json!({"userName": "EMP-LOCK", "tenantId": "pb.amritsar"}))
        .await[0]
        .clone();
    unlock["accountLocked"] = json!(false);
    let (status, body) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": {}, "user": unlock}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .login("EMP-LOCK", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "unlocked at once by the admin: {body}"
    );
}

#[actix_web::test]
async fn twenty_parallel_wrong_passwords_evaluate_exactly_the_limit() {
    let (app, _) = app_at_now(|s| s.lockout.max_invalid_attempts = 4).await;
    employee_named(&app, "EMP-PAR").await;
    let attempts = (0..20).map(|_| wrong(&app, "EMP-PAR"));
    let answers: Vec<String> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(description)
        .collect();
    let invalid = answers
        .iter()
        .filter(|a| *a == "Invalid login credentials")
        .count();
    let locked = answers.iter().filter(|a| *a == "Account locked").count();
    assert_eq!((invalid, locked), (3, 17), "{answers:?}");
}

#[actix_web::test]
async fn wrong_otps_count_towards_the_lock_and_a_locked_login_spends_no_code() {
    let (app, _) = app_at_now(|s| s.lockout.max_invalid_attempts = 2).await;
    let number = "9876500030";
    app.create(
        json!({"userName": number, "name": "C", "mobileNumber": number, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    let code = app.otp_for(number, "pb", "login", "citizen").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (_, body) = app.login(number, wrong, "pb", "CITIZEN").await;
    assert_eq!(description(&body), "Invalid login credentials");
    let (_, body) = app.login(number, wrong, "pb", "CITIZEN").await;
    assert_eq!(description(&body), "Account locked");
    let (_, body) = app.login(number, &code, "pb", "CITIZEN").await;
    assert_eq!(description(&body), "Account locked");
    let (status, _) = app.validate_otp(number, "pb", &code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the locked login did not spend the code"
    );
}

#[actix_web::test]
async fn an_imported_bcrypt_hash_logs_in_and_is_replaced_by_argon2id() {
    let (app, _) = app_at_now(|_| {}).await;
    let created = employee_named(&app, "EMP-BCRYPT").await;
    let uuid = s(&created, "uuid");
    // what a migration from DIGIT's eg_user table leaves: bcrypt cost 10, $2a$
    let imported = bcrypt::hash_with_result("Legacy1@pw", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA);
    app.store
        .users()
        .update(&uuid, None, 1, |old| {
            let mut new = old.clone();
            new.password_hash = Some(imported.clone());
            Ok::<_, ()>(new)
        })
        .await
        .unwrap();
    let (status, _) = app
        .login("EMP-BCRYPT", "Wrong1@pw", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let stored = || {
        app.store
            .users()
            .get_by_uuid(&uuid)
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap()
    };
    assert!(
        stored().starts_with("$2a$"),
        "a failed login changes nothing"
    );
    let (status, body) = app
        .login("EMP-BCRYPT", "Legacy1@pw", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        stored().starts_with("$argon2id$"),
        "rehashed on success: {}",
        &stored()[..10]
    );
    let (status, _) = app
        .login("EMP-BCRYPT", "Legacy1@pw", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "and the password still works");
}

#[actix_web::test]
async fn malformed_token_requests_count_nothing() {
    let (app, _) = app_at_now(|s| s.lockout.max_invalid_attempts = 2).await;
    employee_named(&app, "EMP-BAD").await;
    let malformed: [&[(&str, &str)]; 4] = [
        &[
            ("grant_type", "password"),
            ("username", "EMP-BAD"),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
        ],
        &[
            ("grant_type", "password"),
            ("username", "EMP-BAD"),
            ("password", "Wrong1@pw"),
            ("userType", "EMPLOYEE"),
        ],
        &[
            ("grant_type", "password"),
            ("username", "EMP-BAD"),
            ("password", "Wrong1@pw"),
            ("tenantId", "pb.amritsar"),
        ],
        &[
            ("grant_type", "password"),
            ("username", "EMP-BAD"),
            ("password", "Wrong1@pw"),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
            ("scope", "everything"),
        ],
    ];
    for params in malformed {
        for _ in 0..3 {
            assert_eq!(
                app.token(params, Via::Form).await.0,
                StatusCode::BAD_REQUEST
            );
        }
    }
    assert_eq!(
        description(&wrong(&app, "EMP-BAD").await),
        "Invalid login credentials",
        "not locked"
    );
}

#[actix_web::test]
async fn employees_log_in_with_an_otp_when_switched_on() {
    let (app, _) = app_at_now(|s| s.login.employee_otp_login = true).await;
    employee_named(&app, "EMP-OTP").await;
    let (_, body) = app
        .login("EMP-OTP", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(
        description(&body),
        "Invalid login credentials",
        "the password no longer works"
    );
    let code = app
        .otp_for("9876543210", "pb.amritsar", "login", "EMPLOYEE")
        .await;
    let (status, body) = app.login("EMP-OTP", &code, "pb.amritsar", "EMPLOYEE").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"otpReference": code, "userName": "EMP-OTP",
              "newPassword": "Abcdef2@", "tenantId": "pb.amritsar", "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(
        (status, s(&body["Errors"][0], "code")),
        (
            StatusCode::BAD_REQUEST,
            "InvalidUpdatePasswordRequestException".into()
        )
    );
}
