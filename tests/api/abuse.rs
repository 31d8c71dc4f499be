//! Abuse defences (issue 20): someone who knows a citizen's mobile number cannot lock the citizen out.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_at};

const ATTACKER: &str = "203.0.113.66";
const CITIZEN_AT_HOME: &str = "198.51.100.7";

#[actix_web::test]
async fn wrong_codes_from_a_stranger_block_that_address_and_leave_the_citizen_able_to_log_in() {
    let clock = actors::Clock::manual(1_764_000_000_000);
    let app = spawn_app_at(clock.clone(), |_| {}).await;
    let mobile = "9123000001";
    app.create(
        json!({"userName": mobile, "name": "Citizen", "mobileNumber": mobile, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    // five wrong OTP logins from an address the citizen never logged in from
    let mut answers = Vec::new();
    for code in ["111111", "222222", "333333", "444444", "555555", "666666"] {
        let (_, body) = app
            .login_from(ATTACKER, mobile, code, "pb", "CITIZEN")
            .await;
        answers.push(body["error_description"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        answers,
        [
            "Invalid login credentials",
            "Invalid login credentials",
            "Invalid login credentials",
            "Invalid login credentials",
            "Account locked",
            "Account locked"
        ],
        "the attacker's address is refused from the fifth failure"
    );
    // the citizen asks for a fresh code and logs in from home
    let code = app.otp_for(mobile, "pb", "login", "CITIZEN").await;
    let (status, body) = app
        .login_from(CITIZEN_AT_HOME, mobile, &code, "pb", "CITIZEN")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // the attacker is still refused, even with a code that would be right
    clock.advance_ms(31_000);
    let code = app.otp_for(mobile, "pb", "login", "CITIZEN").await;
    let (status, body) = app
        .login_from(ATTACKER, mobile, &code, "pb", "CITIZEN")
        .await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Account locked"))
    );
    let user = app
        .search_v1(json!({"tenantId": "pb", "userName": mobile}))
        .await;
    assert_eq!(user[0]["accountLocked"], false, "the account is not locked");
}

#[actix_web::test]
async fn failures_from_the_address_the_user_logs_in_from_lock_the_account_as_in_digit() {
    let app = spawn_app().await;
    app.create(json!({"userName": "EMP-HOME", "name": "Employee", "mobileNumber": "9123000002",
                      "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "Abcdef1@",
                      "roles": [{"code": "EMPLOYEE"}]}))
        .await;
    let (status, _) = app
        .login_from(
            CITIZEN_AT_HOME,
            "EMP-HOME",
            "Abcdef1@",
            "pb.amritsar",
            "EMPLOYEE",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..5 {
        app.login_from(
            CITIZEN_AT_HOME,
            "EMP-HOME",
            "Wrong1@pw",
            "pb.amritsar",
            "EMPLOYEE",
        )
        .await;
    }
    // the account is locked: from any address, the right password too
    let (_, body) = app
        .login_from(
            "192.0.2.1",
            "EMP-HOME",
            "Abcdef1@",
            "pb.amritsar",
            "EMPLOYEE",
        )
        .await;
    assert_eq!(body["error_description"], "Account locked");
    let user = app
        .search_v1(json!({"tenantId": "pb.amritsar", "userName": "EMP-HOME"}))
        .await;
    assert_eq!(user[0]["accountLocked"], true);
}

#[actix_web::test]
async fn an_address_and_its_subnet_that_fail_too_often_are_refused_before_any_credential_is_checked()
 {
    let app = crate::helpers::spawn_app_with(|s| {
        s.login.max_failures_per_address = 3;
        s.login.max_failures_per_subnet = 5;
    })
    .await;
    for name in ["EMP-T1", "EMP-T2"] {
        app.create(json!({"userName": name, "name": "Employee", "mobileNumber": "9123000003",
                          "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "Abcdef1@",
                          "roles": [{"code": "EMPLOYEE"}]}))
            .await;
    }
    // a guesser tries one password on many users from one address
    for name in ["EMP-T1", "EMP-T2", "EMP-NOBODY"] {
        let (status, _) = app
            .login_from("203.0.113.1", name, "Guess1@pw", "pb.amritsar", "EMPLOYEE")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, body) = app
        .login_from(
            "203.0.113.1",
            "EMP-T1",
            "Abcdef1@",
            "pb.amritsar",
            "EMPLOYEE",
        )
        .await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from this network; try again later")
        ),
        "refused before the password is checked"
    );
    // its neighbours share the subnet's count
    for ip in ["203.0.113.2", "203.0.113.3"] {
        app.login_from(ip, "EMP-T2", "Guess1@pw", "pb.amritsar", "EMPLOYEE")
            .await;
    }
    let (status, _) = app
        .login_from(
            "203.0.113.4",
            "EMP-T2",
            "Abcdef1@",
            "pb.amritsar",
            "EMPLOYEE",
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the subnet's five failures"
    );
    // another network, and the users themselves, are not affected
    let (status, body) = app
        .login_from(
            "198.51.100.7",
            "EMP-T1",
            "Abcdef1@",
            "pb.amritsar",
            "EMPLOYEE",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn a_stranger_s_wrong_registration_codes_leave_the_citizen_s_code_alive() {
    let app = spawn_app().await;
    let mobile = "9123000009";
    let code = app.otp_for(mobile, "pb", "register", "citizen").await;
    let register_from = |ip: &'static str, otp: String| {
        let app = &app;
        async move {
            let body = json!({"RequestInfo": {"apiId": "Rainmaker"},
                "User": {"name": "Asha Devi", "username": mobile, "otpReference": otp, "tenantId": "pb"}});
            let (status, _, body) = app
                .post_with_headers("/user/citizen/_create", &body, &[("x-real-ip", ip)])
                .await;
            (status, body)
        }
    };
    // more wrong codes than a code survives from one address (5) and from everyone together (20)
    for n in 0..25 {
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1 + n) % 1_000_000);
        let (status, body) = register_from(ATTACKER, wrong).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = register_from(CITIZEN_AT_HOME, code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the citizen registers with the code they got: {body}"
    );
}
