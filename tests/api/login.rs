//! Login end to end as DIGIT's clients drive it: citizen register → login → `_details` → logout, employee
//! login → password change → forgot password; the token endpoint's E3 errors; `_details` and `_logout`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    BASIC, TestApp, Via, e2_codes, employee, first_code, spawn_app, spawn_app_with,
};

const TOKEN_KEYS: [&str; 7] = [
    "access_token",
    "token_type",
    "refresh_token",
    "expires_in",
    "scope",
    "ResponseInfo",
    "UserRequest",
];

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn register(app: &TestApp, mobile: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/user/citizen/_create",
        &json!({"RequestInfo": {"apiId": "Rainmaker"},
                "User": {"name": "Asha Devi", "username": mobile, "otpReference": code, "tenantId": "pb"}}),
    )
    .await
}

fn citizen_login(mobile: &str, code: &str) -> Vec<(&'static str, String)> {
    vec![
        ("username", mobile.to_owned()),
        ("password", code.to_owned()),
        ("tenantId", "pb".to_owned()),
        ("userType", "citizen".to_owned()),
        ("grant_type", "password".to_owned()),
        ("scope", "read".to_owned()),
    ]
}

fn refs<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn logout(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post("/user/_logout", &json!({"access_token": token}))
        .await
}

#[actix_web::test]
async fn citizen_register_login_details_logout() {
    // register then log in at once: no resend cool-down between the two codes
    let app = spawn_app_with(|s| s.otp.resend_cooldown_secs = 0).await;
    let mobile = "9876543210";
    let code = app.otp_for(mobile, "pb", "register", "citizen").await;
    let (status, registered) = register(&app, mobile, &code).await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(
        keys(&registered),
        TOKEN_KEYS,
        "register-with-login answers tokens"
    );
    assert_eq!(
        keys(&registered["UserRequest"]),
        [
            "id",
            "uuid",
            "userName",
            "name",
            "mobileNumber",
            "emailId",
            "locale",
            "type",
            "roles",
            "active",
            "tenantId",
            "permanentCity"
        ]
    );
    let user = &registered["UserRequest"];
    assert_eq!(
        (
            user["userName"].as_str(),
            user["mobileNumber"].as_str(),
            user["type"].as_str()
        ),
        (Some(mobile), Some(mobile), Some("CITIZEN"))
    );
    assert_eq!(
        user["roles"],
        json!([{"name": "Citizen", "code": "CITIZEN", "tenantId": "pb"}])
    );
    assert_eq!(
        (user["active"].as_bool(), user["tenantId"].as_str()),
        (Some(true), Some("pb"))
    );
    let (status, _) = app.validate_otp(mobile, "pb", &code).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the register code was consumed"
    );

    // login exactly as the DIGIT web UI sends it: every parameter in the query string, empty body
    let code = app.otp_for(mobile, "pb", "login", "citizen").await;
    let (status, headers, login) = app
        .token_with(
            &refs(&citizen_login(mobile, &code)),
            Via::Query,
            Some(BASIC),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(keys(&login), TOKEN_KEYS);
    assert_eq!(
        login["ResponseInfo"],
        json!({"api_id": "", "ver": "", "ts": "", "res_msg_id": "", "msg_id": "",
               "status": "Access Token generated successfully"})
    );
    assert_eq!(
        (login["token_type"].as_str(), login["scope"].as_str()),
        (Some("bearer"), Some("read"))
    );
    assert_eq!(login["expires_in"], 10080 * 60);
    assert_eq!(login["UserRequest"]["uuid"], user["uuid"]);
    let (status, again) = app
        .token(&refs(&citizen_login(mobile, &code)), Via::Query)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        again,
        json!({"error": "invalid_request", "error_description": "Invalid login credentials"}),
        "an OTP logs in once"
    );

    let access = login["access_token"].as_str().unwrap();
    let (status, details) = app.details(access).await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(
        keys(&details),
        [
            "id",
            "userName",
            "name",
            "mobileNumber",
            "emailId",
            "locale",
            "type",
            "roles",
            "active",
            "actions",
            "tenantId",
            "uuid"
        ]
    );
    assert_eq!(
        (
            details["userName"].as_str(),
            details["actions"].clone(),
            details["uuid"].clone()
        ),
        (Some(mobile), Value::Null, user["uuid"].clone())
    );

    let (status, out) = logout(&app, access).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        keys(&out),
        ["apiId", "ver", "ts", "resMsgId", "msgId", "status"]
    );
    assert_eq!(out["status"], "Logout successfully");
    assert!(out["ts"].as_i64().unwrap() > 1_600_000_000_000);
    let (status, dead) = app.details(access).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dead,
        json!({"ResponseInfo": null, "Errors": [{"code": "InvalidAccessTokenException",
               "message": "An unhandled exception occurred on the server",
               "description": "Invalid Access Token Exception", "params": null}]})
    );
    let refresh = login["refresh_token"].as_str().unwrap();
    let (status, body) = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            Via::Form,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "logout ends the refresh token too"
    );
    let (status, body) = logout(&app, access).await;
    assert_eq!(
        (status, body["ResponseInfo"]["status"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Logout failed"))
    );
}

#[actix_web::test]
async fn registration_spends_the_otp_only_after_the_duplicate_check() {
    let app = spawn_app().await;
    let mobile = "9876500001";
    let code = app.otp_for(mobile, "pb", "register", "citizen").await;
    // the number gets registered another way while the code is live
    app.create(
        json!({"userName": mobile, "name": "Other", "mobileNumber": mobile, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
    )
    .await;
    let (status, body) = register(&app, mobile, &code).await;
    assert_eq!(
        (status, first_code(&body)),
        (StatusCode::BAD_REQUEST, "DuplicateUserNameException".into())
    );
    let (status, body) = app.validate_otp(mobile, "pb", &code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the duplicate did not burn the code: {body}"
    );

    let fresh = "9876500002";
    let code = app.otp_for(fresh, "pb", "register", "citizen").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = register(&app, fresh, wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e2_codes(&body),
        ["OTP.VALIDATION_UNSUCCESSFUL"],
        "egov-otp's body relayed"
    );
    assert!(
        app.search_v1(json!({"userName": fresh, "tenantId": "pb"}))
            .await
            .is_empty(),
        "nothing created"
    );
    let (status, body) = register(&app, "98765abc01", &code).await;
    assert_eq!(
        (status, first_code(&body)),
        (StatusCode::BAD_REQUEST, "UserNameNotValidException".into())
    );
    let (status, body) = app
        .post(
            "/user/citizen/_create",
            &json!({"User": {"name": "A", "username": fresh, "tenantId": "pb"}}),
        )
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (StatusCode::BAD_REQUEST, "InvalidUserCreateException".into())
    );
    let (status, body) = register(&app, fresh, &code).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the code survived the bad requests: {body}"
    );
}

#[actix_web::test]
async fn without_register_with_login_the_user_is_answered() {
    let app = spawn_app_with(|s| s.login.register_with_login = false).await;
    let code = app.otp_for("9876500003", "pb", "register", "citizen").await;
    let (status, body) = register(&app, "9876500003", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["responseInfo"]["status"], "200");
    assert_eq!(body["user"][0]["active"], false);
}

fn employee_with_password(user_name: &str, password: &str) -> Value {
    let mut e = employee(user_name);
    e["password"] = json!(password);
    e
}

/// Parameters, the status and the E3 body they get.
type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, Value);

fn e3(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

#[actix_web::test]
async fn every_token_endpoint_error_is_e3_and_never_cached() {
    let app = spawn_app().await;
    app.create(employee_with_password("EMP-E3", "Abcdef1@"))
        .await;
    let mut inactive = employee_with_password("EMP-OFF", "Abcdef1@");
    inactive["active"] = json!(false);
    app.create(inactive).await;
    let login =
        |user: &'static str, tenant: &'static str, user_type: &'static str, pw: &'static str| {
            vec![
                ("grant_type", "password"),
                ("username", user),
                ("password", pw),
                ("tenantId", tenant),
                ("userType", user_type),
            ]
        };
    let good = login("EMP-E3", "pb.amritsar", "EMPLOYEE", "Abcdef1@");

    let (status, headers, body) = app.token_with(&good, Via::Form, None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            e3(
                "unauthorized",
                "Full authentication is required to access this resource"
            )
        )
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let wrong_secret = "Basic ZWdvdi11c2VyLWNsaWVudDpub3Bl"; // egov-user-client:nope
    let (status, _, body) = app.token_with(&good, Via::Form, Some(wrong_secret)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            e3("unauthorized", "Bad credentials")
        )
    );
    let postman = "Basic ZWdvdi11c2VyLWNsaWVudDplZ292LXVzZXItc2VjcmV0"; // egov-user-client:egov-user-secret
    assert_eq!(
        app.token_with(&good, Via::Form, Some(postman)).await.0,
        StatusCode::OK
    );

    let cases: Vec<Case> = vec![
        (
            vec![("username", "EMP-E3")],
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Missing grant type"),
        ),
        (
            vec![("grant_type", "client_credentials")],
            StatusCode::BAD_REQUEST,
            e3(
                "unsupported_grant_type",
                "Unsupported grant type: client_credentials",
            ),
        ),
        (
            [good.clone(), vec![("scope", "admin")]].concat(),
            StatusCode::BAD_REQUEST,
            e3("invalid_scope", "Invalid scope: admin"),
        ),
        (
            login("EMP-E3", "", "EMPLOYEE", "Abcdef1@"),
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "TenantId is mandatory"),
        ),
        (
            login("EMP-E3", "pb.amritsar", "ROBOT", "Abcdef1@"),
            StatusCode::BAD_REQUEST,
            e3(
                "invalid_request",
                "User Type is mandatory and has to be a valid type",
            ),
        ),
        (
            login("NOBODY", "pb.amritsar", "EMPLOYEE", "Abcdef1@"),
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Invalid login credentials"),
        ),
        (
            login("EMP-E3", "pb.amritsar", "EMPLOYEE", "Wrong1@pw"),
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Invalid login credentials"),
        ),
        (
            login("EMP-E3", "pb.amritsar", "CITIZEN", "Abcdef1@"),
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Invalid login credentials"),
        ),
        (
            login("EMP-OFF", "pb.amritsar", "EMPLOYEE", "Abcdef1@"),
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Please activate your account"),
        ),
        (
            vec![("grant_type", "refresh_token")],
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Missing refresh token"),
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "not-one-of-ours"),
            ],
            StatusCode::BAD_REQUEST,
            e3("invalid_grant", "Invalid refresh token"),
        ),
    ];
    for (params, want_status, want) in cases {
        let (status, headers, body) = app.token_with(&params, Via::Form, Some(BASIC)).await;
        assert_eq!((status, &body), (want_status, &want), "{params:?}");
        assert_eq!(headers["cache-control"], "no-store", "{params:?}");
    }
    // the credential check of an inactive user is not skipped: a wrong password says only that
    let (status, body) = app
        .token(
            &login("EMP-OFF", "pb.amritsar", "EMPLOYEE", "Wrong1@pw"),
            Via::Form,
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            e3("invalid_request", "Invalid login credentials")
        )
    );
    // isInternal bypasses nothing
    let bypass = [
        login("EMP-E3", "pb.amritsar", "EMPLOYEE", "Wrong1@pw"),
        vec![("isInternal", "true")],
    ]
    .concat();
    assert_eq!(
        app.token(&bypass, Via::Query).await.0,
        StatusCode::BAD_REQUEST
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/user/oauth/token", app.public))
        .header("authorization", BASIC)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
}

#[actix_web::test]
async fn details_takes_the_token_from_query_or_form_and_says_when_it_is_missing() {
    let app = spawn_app().await;
    app.create(employee_with_password("EMP-DET", "Abcdef1@"))
        .await;
    let (_, login) = app
        .login("EMP-DET", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    let token = login["access_token"].as_str().unwrap();
    let client = reqwest::Client::new();
    let form = client
        .post(format!("{}/user/_details", app.public))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(form.json::<Value>().await.unwrap()["userName"], "EMP-DET");
    let (status, body) = app.post("/user/_details", &json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["Errors"][0],
        json!({"code": "", "message": "Required String parameter 'access_token' is not present",
               "description": null, "params": ["access_token"]})
    );
    let (status, body) = app.details("eyJhbGciOiJIUzI1NiJ9.e30.forged").await;
    assert_eq!(
        (status, first_code(&body)),
        (
            StatusCode::BAD_REQUEST,
            "InvalidAccessTokenException".into()
        )
    );
    // logout needs the token in the body
    let (status, body) = app.post_raw("/user/_logout", Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["Error"],
        json!({"code": 400, "message": null, "description": "Logout failed",
                                     "errorFields": null, "fields": {}})
    );
    assert_eq!(body["ResponseInfo"]["status"], "Logout failed");
    assert_eq!(
        app.details(token).await.0,
        StatusCode::OK,
        "failed logouts end nothing"
    );
}
