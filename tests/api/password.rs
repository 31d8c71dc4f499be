//! The password endpoints: the employee's change (logged in) and reset (OTP), their rules and what they end.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{e2_codes, employee, first_code, spawn_app};

fn employee_with_password(user_name: &str, password: &str) -> Value {
    let mut e = employee(user_name);
    e["password"] = json!(password);
    e
}

#[actix_web::test]
async fn employee_login_password_change_and_forgot_password() {
    let app = spawn_app().await;
    app.create(employee_with_password("EMP-LOGIN", "Abcdef1@"))
        .await;
    let (status, first) = app
        .login("EMP-LOGIN", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["UserRequest"]["tenantId"], "pb.amritsar");
    // the mGramSeva app logs employees in with the state tenant
    let (status, second) = app.login("EMP-LOGIN", "Abcdef1@", "pb", "EMPLOYEE").await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["UserRequest"]["uuid"], first["UserRequest"]["uuid"]);
    let (status, _) = app
        .login("EMP-LOGIN", "Abcdef1@", "pb.jalandhar", "EMPLOYEE")
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "another city is another tenant"
    );

    let current = second["access_token"].as_str().unwrap();
    let change = |existing: &str, new: &str| {
        json!({"RequestInfo": {"authToken": current, "userInfo": {"userName": "EMP-LOGIN"}},
               "existingPassword": existing, "newPassword": new, "tenantId": "pb.amritsar", "type": "EMPLOYEE"})
    };
    let (status, body) = app
        .post("/user/password/_update", &change("Wrong1@x", "Newpass1@"))
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (StatusCode::BAD_REQUEST, "PasswordMismatchException".into())
    );
    assert_eq!(
        body["Errors"][0]["description"],
        "Invalid username or password"
    );
    let (status, body) = app
        .post("/user/password/_update", &change("Abcdef1@", "short"))
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PWD_LENGTH".into())
    );
    let (status, body) = app
        .post("/user/password/_update", &change("Abcdef1@", "Newpass1@"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"responseInfo": {"apiId": null, "ver": null, "ts": null, "resMsgId": null,
                                             "msgId": null, "status": "200"}})
    );
    assert_eq!(
        app.details(current).await.0,
        StatusCode::OK,
        "the session that changed it stays"
    );
    let other = first["access_token"].as_str().unwrap();
    assert_eq!(
        app.details(other).await.0,
        StatusCode::BAD_REQUEST,
        "other sessions end"
    );
    assert_eq!(
        app.login("EMP-LOGIN", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login("EMP-LOGIN", "Newpass1@", "pb.amritsar", "EMPLOYEE")
            .await
            .0,
        StatusCode::OK
    );

    // forgot password: an OTP of purpose passwordreset to the stored mobile number
    let code = app
        .otp_for("9876543210", "pb.amritsar", "passwordreset", "EMPLOYEE")
        .await;
    let reset = |otp: &str| {
        json!({"RequestInfo": {}, "otpReference": otp, "userName": "EMP-LOGIN", "newPassword": "Reset1@pw",
               "tenantId": "pb.amritsar", "type": "EMPLOYEE"})
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = app
        .post("/user/password/nologin/_update", &reset(wrong))
        .await;
    assert_eq!(
        (status, e2_codes(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["OTP.VALIDATION_UNSUCCESSFUL".to_owned()]
        )
    );
    let (status, body) = app
        .post("/user/password/nologin/_update", &reset(&code))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.details(current).await.0,
        StatusCode::BAD_REQUEST,
        "a reset ends every session"
    );
    assert_eq!(
        app.login("EMP-LOGIN", "Reset1@pw", "pb.amritsar", "EMPLOYEE")
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = app
        .post("/user/password/nologin/_update", &reset(&code))
        .await;
    assert_eq!(
        (status, e2_codes(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["OTP.VALIDATION_UNSUCCESSFUL".to_owned()]
        ),
        "used once"
    );
}

#[actix_web::test]
async fn password_endpoint_rules() {
    let app = spawn_app().await;
    app.create(employee_with_password("EMP-RULES", "Abcdef1@"))
        .await;
    let (status, body) = app
        .post("/user/password/_update", &json!({"RequestInfo": {"userInfo": {"userName": "EMP-RULES"}},
                                                 "existingPassword": "Abcdef1@", "tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (
            StatusCode::BAD_REQUEST,
            "InvalidLoggedInUserUpdatePasswordRequestException".into()
        )
    );
    let (status, body) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"userName": "EMP-RULES", "newPassword": "Abcdef1@"}),
        )
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (
            StatusCode::BAD_REQUEST,
            "InvalidNonLoggedInUserUpdatePasswordRequestException".into()
        )
    );
    let (status, body) = app
        .post("/user/password/_update", &json!({"RequestInfo": {"userInfo": {"userName": "NOBODY"}},
              "existingPassword": "Abcdef1@", "newPassword": "Abcdef2@", "tenantId": "pb.amritsar", "type": "EMPLOYEE"}))
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (StatusCode::BAD_REQUEST, "UserNotFoundException".into())
    );
    // citizens log in by OTP: the password endpoints refuse them
    app.create(json!({"userName": "9876500010", "name": "C", "mobileNumber": "9876500010", "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}))
        .await;
    let (status, body) = app
        .post("/user/password/_update", &json!({"RequestInfo": {"userInfo": {"userName": "9876500010"}},
              "existingPassword": "Abcdef1@", "newPassword": "Abcdef2@", "tenantId": "pb", "type": "CITIZEN"}))
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (
            StatusCode::BAD_REQUEST,
            "InvalidUpdatePasswordRequestException".into()
        )
    );
    let (status, body) = app
        .post("/user/password/_update", &json!({"RequestInfo": {"authToken": "forged"},
              "existingPassword": "Abcdef1@", "newPassword": "Abcdef2@", "tenantId": "pb.amritsar", "type": "EMPLOYEE"}))
        .await;
    assert_eq!(
        (status, first_code(&body)),
        (
            StatusCode::BAD_REQUEST,
            "InvalidAccessTokenException".into()
        )
    );
}
