//! `/user-otp/v1/_send`: request rules, the user state each type needs, locales and placeholders, the
//! e-mail payload, limits and back-pressure, test numbers.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, e2_codes, employee, otp_in, spawn_app, spawn_app_with};

pub(crate) fn send_body(
    mobile: &str,
    tenant: &str,
    send_type: Option<&str>,
    user_type: Option<&str>,
) -> Value {
    let mut otp = json!({"mobileNumber": mobile, "tenantId": tenant});
    if let Some(t) = send_type {
        otp["type"] = json!(t);
    }
    if let Some(u) = user_type {
        otp["userType"] = json!(u);
    }
    json!({"RequestInfo": {"apiId": "Rainmaker"}, "otp": otp})
}

pub(crate) async fn send(
    app: &TestApp,
    mobile: &str,
    tenant: &str,
    send_type: Option<&str>,
    user_type: Option<&str>,
) -> (StatusCode, Value) {
    app.post(
        "/user-otp/v1/_send",
        &send_body(mobile, tenant, send_type, user_type),
    )
    .await
}

async fn citizen(app: &TestApp, mobile: &str, email: Option<&str>) {
    app.create(json!({"userName": mobile, "name": "Citizen", "mobileNumber": mobile, "type": "CITIZEN", "tenantId": "pb",
                      "active": true, "emailId": email, "roles": [{"code": "CITIZEN"}]}))
        .await;
}

#[actix_web::test]
async fn register_send_delivers_an_sms_whose_code_validates_once() {
    let app = spawn_app().await;
    let raw = app
        .post_text(
            "/user-otp/v1/_send",
            &send_body("9876543210", "pb.amritsar", None, Some("citizen")),
        )
        .await;
    assert_eq!(
        raw, r#"{"responseInfo":null,"isSuccessful":true}"#,
        "201 body and field order"
    );
    let sms = &app.wait_notifications(1).await[0];
    assert_eq!(sms["channel"], "sms");
    let payload = &sms["payload"];
    let keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "mobileNumber",
            "message",
            "category",
            "expiryTime",
            "countryCode"
        ]
    );
    assert_eq!(
        (
            payload["mobileNumber"].as_str(),
            payload["category"].as_str(),
            payload["countryCode"].as_str()
        ),
        (Some("9876543210"), Some("OTP"), Some("+91"))
    );
    assert!(payload["expiryTime"].as_i64().unwrap() > 1_700_000_000_000);
    let code = otp_in(payload["message"].as_str().unwrap());
    assert_eq!(
        payload["message"],
        format!("Dear Citizen, Your OTP to complete your DIGIT Registration is {code}.")
    );
    assert!(sms["messageId"].as_str().is_some_and(|m| m.len() == 36));

    let (status, body) = app.validate_otp("9876543210", "pb.amritsar", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let otp = &body["otp"];
    assert_eq!(
        (
            otp["otp"].as_str(),
            otp["identity"].as_str(),
            otp["tenantId"].as_str(),
            otp["isValidationSuccessful"].as_bool()
        ),
        (
            Some(code.as_str()),
            Some("9876543210"),
            Some("pb"),
            Some(true)
        )
    );
    assert_eq!(body["responseInfo"], Value::Null);
    let (status, body) = app.validate_otp("9876543210", "pb", &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "OTP validation unsuccessful");
    assert_eq!(
        body["error"]["fields"],
        json!([{"code": "OTP.VALIDATION_UNSUCCESSFUL", "message": "OTP validation unsuccessful", "field": "otp.otp"}])
    );
}

#[actix_web::test]
async fn send_request_rules_are_reported_together_in_order() {
    let app = spawn_app().await;
    let (status, body) = app
        .post("/user-otp/v1/_send", &json!({"otp": {"type": "bogus"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], 400);
    assert_eq!(body["error"]["message"], "Invalid OTP request");
    assert_eq!(
        e2_codes(&body),
        [
            "OTP.TENANT_ID_MANDATORY",
            "OTP.MOBILE_NUMBER_MANDATORY",
            "OTP.REQUEST_TYPE_MANDATORY"
        ]
    );
    let (_, body) = app
        .post("/user-otp/v1/_send", &json!({"RequestInfo": {}}))
        .await;
    assert_eq!(
        e2_codes(&body),
        ["OTP.TENANT_ID_MANDATORY", "OTP.MOBILE_NUMBER_MANDATORY"],
        "absent otp object; absent type = register"
    );
    let (_, body) = send(&app, "5876543210", "pb", Some("login"), None).await;
    assert_eq!(e2_codes(&body), ["OTP.MOBILE_NUMBER_VALIDATION_FAILED"]);
    assert_eq!(
        body["error"]["fields"][0]["message"],
        "Mobile number must match the configured pattern: ^[6-9][0-9]{9}$"
    );
    let (status, body) = app
        .post_raw("/user-otp/v1/_send", b"{\"otp\":".to_vec())
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "malformed JSON is a 400, not DIGIT's 500"
    );
    assert_eq!(
        e2_codes(&body),
        ["JsonParseException"],
        "user-otp's E2 shape: {body}"
    );
    assert!(
        app.settled_notifications().await.is_empty(),
        "nothing was queued"
    );
}

#[actix_web::test]
async fn a_country_code_the_state_s_rules_do_not_list_gets_the_validation_error_and_no_sms() {
    let app = spawn_app().await;
    for code in ["+882", "+44", "882"] {
        let mut body = send_body("9876543210", "pb", Some("register"), None);
        body["otp"]["countryCode"] = json!(code);
        let (status, answer) = app.post("/user-otp/v1/_send", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code}: {answer}");
        assert_eq!(
            e2_codes(&answer),
            ["OTP.MOBILE_NUMBER_VALIDATION_FAILED"],
            "{code}: {answer}"
        );
        assert_eq!(
            answer["error"]["fields"][0]["message"],
            "Country code is not allowed for this tenant; allowed: +91"
        );
    }
    assert!(
        app.settled_notifications().await.is_empty(),
        "no SMS to a premium or foreign range"
    );
    // the state's own code, with or without its plus, goes out
    for (mobile, code) in [("9876543210", "+91"), ("9876543211", "91")] {
        let mut body = send_body(mobile, "pb", Some("register"), None);
        body["otp"]["countryCode"] = json!(code);
        let (status, answer) = app.post("/user-otp/v1/_send", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{code}: {answer}");
    }
    assert_eq!(app.wait_notifications(2).await.len(), 2);
}

#[actix_web::test]
async fn each_type_needs_its_user_state() {
    let app = spawn_app().await;
    citizen(&app, "9000000001", None).await;
    let (status, body) = send(&app, "9000000001", "pb", Some("register"), Some("CITIZEN")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "OTP request for register failed");
    assert_eq!(
        body["error"]["fields"][0],
        json!({"code": "OTP.MOBILENUMBER",
        "message": "This MobileNumber Already Register as UserName in System. Pls try Another UserName", "field": "otp.mobileNumber"})
    );
    let (_, body) = send(&app, "9000000002", "pb", Some("login"), Some("citizen")).await;
    assert_eq!(body["error"]["message"], "OTP request for login failed");
    assert_eq!(body["error"]["fields"][0]["code"], "OTP.UNKNOWN_CREDENTIAL");
    assert_eq!(
        body["error"]["fields"][0]["message"],
        "No such username or password"
    );
    let (_, body) = send(&app, "9000000002", "pb", Some("passwordreset"), None).await;
    assert_eq!(
        body["error"]["message"],
        "OTP request for password reset failed"
    );
    assert_eq!(
        body["error"]["fields"][0]["code"],
        "OTP.UNKNOWN_MOBILE_NUMBER"
    );
    assert_eq!(
        send(&app, "9000000001", "pb", Some("LOGIN"), None).await.0,
        StatusCode::CREATED,
        "type is case-insensitive"
    );
    assert!(app.wait_notifications(1).await.len() == 1);
}

#[actix_web::test]
async fn inactive_users_count_as_unknown_and_alternate_numbers_as_known() {
    let app = spawn_app_with(|s| s.user.mobile_validation_workaround = true).await;
    app.create(json!({"userName": "9000000003", "name": "Inactive", "mobileNumber": "9000000003", "type": "CITIZEN",
                      "tenantId": "pb", "active": false, "roles": [{"code": "CITIZEN"}]}))
        .await;
    assert_eq!(
        send(&app, "9000000003", "pb", None, None).await.0,
        StatusCode::CREATED,
        "register allowed: user inactive"
    );
    app.create(json!({"userName": "ALTONLY", "name": "Alt Only", "alternatemobilenumber": "9000000004", "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}))
        .await;
    let (_, body) = send(&app, "9000000004", "pb", Some("register"), None).await;
    assert_eq!(body["error"]["fields"][0]["code"], "OTP.MOBILENUMBER");
    let (_, body) = send(&app, "9000000004", "pb", Some("passwordreset"), None).await;
    assert_eq!(body["error"]["fields"][0]["code"], "OTP.MOBILE_NUMBER");
    assert_eq!(
        body["error"]["fields"][0]["message"],
        "MobileNumber Not Found For This User."
    );
}

#[actix_web::test]
async fn employees_are_looked_up_in_their_city_citizens_in_the_state() {
    let app = spawn_app().await;
    app.create(employee("EMP7")).await; // mobile 9876543210 in pb.amritsar
    let (status, body) = send(
        &app,
        "9876543210",
        "pb.amritsar",
        Some("passwordreset"),
        Some("EMPLOYEE"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = send(
        &app,
        "9876543210",
        "pb.amritsar",
        Some("passwordreset"),
        Some("citizen"),
    )
    .await;
    assert_eq!(
        body["error"]["fields"][0]["code"], "OTP.UNKNOWN_MOBILE_NUMBER",
        "citizens are looked up at the state tenant"
    );
}

#[actix_web::test]
async fn lower_case_employee_user_type_is_an_employee() {
    let app = spawn_app().await;
    app.create(employee("EMP8")).await;
    let (status, body) = send(
        &app,
        "9876543210",
        "pb.amritsar",
        Some("passwordreset"),
        Some("employee"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[actix_web::test]
async fn login_and_reset_also_send_an_email_when_the_user_has_one() {
    let app = spawn_app().await;
    citizen(&app, "9000000005", Some("asha@example.org")).await;
    assert_eq!(
        send(&app, "9000000005", "pb", Some("login"), Some("CITIZEN"))
            .await
            .0,
        StatusCode::CREATED
    );
    let delivered = app.wait_notifications(2).await;
    let email = delivered
        .iter()
        .find(|n| n["channel"] == "email")
        .expect("an e-mail");
    let sms = delivered
        .iter()
        .find(|n| n["channel"] == "sms")
        .expect("an sms");
    let code = otp_in(sms["payload"]["message"].as_str().unwrap());
    assert_eq!(
        email["payload"],
        json!({"requestInfo": {"apiId": null, "ver": null, "ts": null, "action": null, "did": null, "key": null,
                               "msgId": null, "authToken": null, "correlationId": null, "plainAccessRequest": null, "userInfo": null},
               "email": {"emailTo": ["asha@example.org"], "subject": "Login OTP", "body": format!("Dear Citizen, Your Login OTP is {code}.")}})
    );
}

#[actix_web::test]
async fn the_locale_comes_from_msg_id_or_otp_locale_with_both_placeholder_styles() {
    let app = spawn_app().await;
    let mut body = send_body("9000000006", "pb", None, None);
    body["RequestInfo"]["msgId"] = json!("1690000000000|hi_IN");
    assert_eq!(
        app.post("/user-otp/v1/_send", &body).await.0,
        StatusCode::CREATED
    );
    let mut body = send_body("9000000007", "pb", None, None);
    body["otp"]["locale"] = json!("hi_IN");
    assert_eq!(
        app.post("/user-otp/v1/_send", &body).await.0,
        StatusCode::CREATED
    );
    let mut body = send_body("9000000008", "pb", None, None);
    body["RequestInfo"]["msgId"] = json!("1690000000000|fr_FR");
    assert_eq!(
        app.post("/user-otp/v1/_send", &body).await.0,
        StatusCode::CREATED
    );
    let delivered = app.wait_notifications(3).await;
    let text = |mobile: &str| {
        delivered
            .iter()
            .find(|n| n["payload"]["mobileNumber"] == mobile)
            .unwrap()["payload"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for mobile in ["9000000006", "9000000007"] {
        let hindi = text(mobile);
        assert!(hindi.starts_with("प्रिय नागरिक"), "{hindi}");
        assert!(!hindi.contains("{otp}") && !hindi.contains("%s"), "{hindi}");
        otp_in(&hindi);
    }
    assert!(
        text("9000000008").starts_with("Dear Citizen"),
        "unknown locale: the default catalog"
    );
}

#[actix_web::test]
async fn bodies_that_cannot_be_read_are_refused_in_user_otps_shape() {
    let app = spawn_app().await;
    let too_big = format!(r#"{{"otp": {{"mobileNumber": "{}"}}}}"#, "9".repeat(70_000));
    for (path, body, message, code) in [
        (
            "/user-otp/v1/_send",
            r#"{"otp": {"mobileNumber": "98765"#.to_owned(),
            "Invalid OTP request",
            "JsonParseException",
        ),
        (
            "/user-otp/v1/_send",
            r#"[{"otp": {}}]"#.to_owned(),
            "Invalid OTP request",
            "JsonMappingException",
        ),
        (
            "/user-otp/v1/_send",
            r#"{"otp": {"mobileNumber": ["9876543210"]}}"#.to_owned(),
            "Invalid OTP request",
            "JsonMappingException",
        ),
        (
            "/user-otp/v1/_send",
            too_big,
            "Invalid OTP request",
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "/otp/v1/_validate",
            "{".to_owned(),
            "Invalid OTP validation request",
            "JsonParseException",
        ),
    ] {
        let (status, answer) = app.post_raw(path, body.into_bytes()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["responseInfo"], Value::Null, "{answer}");
        assert!(answer.get("Errors").is_none(), "not E1: {answer}");
        assert_eq!(answer["error"]["code"], 400);
        assert_eq!(answer["error"]["message"], message);
        assert_eq!(e2_codes(&answer), [code], "{answer}");
        assert!(
            !answer["error"]["fields"][0]["message"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
}
