//! egov-otp's store: `/otp/v1/_create` and `/otp/v1/_search` (internal listener only) and
//! `/otp/v1/_validate` — shapes, missing fields, single use under concurrency, tries.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{e2_codes, spawn_app};

#[actix_web::test]
async fn create_and_search_live_on_the_internal_listener_only() {
    let app = spawn_app().await;
    let create =
        json!({"RequestInfo": null, "otp": {"identity": "9876543210", "tenantId": "pb.amritsar"}});
    assert_eq!(
        app.post("/otp/v1/_create", &create).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/otp/v1/_search", &json!({"otp": {"UUID": "x"}}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = app.post_internal("/otp/v1/_create", &create).await;
    assert_eq!(status, StatusCode::CREATED);
    let otp = &body["otp"];
    let code = otp["otp"].as_str().unwrap().to_owned();
    let uuid = otp["UUID"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            otp["identity"].as_str(),
            otp["tenantId"].as_str(),
            otp["isValidationSuccessful"].as_bool()
        ),
        (Some("9876543210"), Some("pb"), Some(false))
    );
    assert!(
        app.settled_notifications().await.is_empty(),
        "no sms for a direct code"
    );

    let search = json!({"otp": {"UUID": uuid, "tenantId": "pb"}});
    let (status, body) = app.post_internal("/otp/v1/_search", &search).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["otp"]["otp"],
        Value::Null,
        "search never returns the code"
    );
    assert!(!body.to_string().contains(&code));
    assert_eq!(body["otp"]["isValidationSuccessful"], false);
    assert_eq!(body["otp"]["identity"], "9876543210");
    assert_eq!(
        app.validate_otp("9876543210", "pb", &code).await.0,
        StatusCode::OK
    );
    let (_, body) = app
        .post_internal("/otp/v1/_search", &json!({"otp": {"uuid": uuid}}))
        .await;
    assert_eq!(body["otp"]["isValidationSuccessful"], true);
    let (status, body) = app
        .post_internal(
            "/otp/v1/_search",
            &json!({"otp": {"UUID": "00000000-0000-4000-8000-00000000abcd"}}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"responseInfo": null, "otp": null}))
    );
}

#[actix_web::test]
async fn create_and_validate_name_their_missing_fields() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_internal("/otp/v1/_create", &json!({"otp": {}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Invalid OTP request");
    assert_eq!(
        e2_codes(&body),
        ["OTP.TENANT_ID_MANDATORY", "OTP.IDENTITY_MANDATORY"]
    );
    let (_, body) = app
        .post_internal("/otp/v1/_create", &json!({"RequestInfo": {}}))
        .await;
    assert_eq!(
        e2_codes(&body),
        ["OTP.TENANT_ID_MANDATORY", "OTP.IDENTITY_MANDATORY"],
        "absent otp object"
    );
    let (_, body) = app
        .post_internal(
            "/otp/v1/_create",
            &json!({"otp": {"identity": "x".repeat(101), "tenantId": "pb"}}),
        )
        .await;
    assert_eq!(body["Errors"][0]["code"], "Size.otpRequest.otp.identity");
    let (status, body) = app.post("/otp/v1/_validate", &json!({"otp": {}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Invalid OTP validation request");
    assert_eq!(
        e2_codes(&body),
        [
            "OTP.TENANT_ID_MANDATORY",
            "OTP.IDENTITY_MANDATORY",
            "OTP.OTP_MANDATORY"
        ]
    );
}

#[actix_web::test]
async fn fifty_concurrent_validations_over_http_let_exactly_one_win() {
    let app = std::sync::Arc::new(spawn_app().await);
    let (_, body) = app
        .post_internal(
            "/otp/v1/_create",
            &json!({"otp": {"identity": "9876500000", "tenantId": "pb"}}),
        )
        .await;
    let code = body["otp"]["otp"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, code) = (app.clone(), code.clone());
            actix_web::rt::spawn(async move { app.validate_otp("9876500000", "pb", &code).await.0 })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[actix_web::test]
async fn five_wrong_tries_kill_a_code() {
    let app = spawn_app().await;
    let (_, body) = app
        .post_internal(
            "/otp/v1/_create",
            &json!({"otp": {"identity": "9876500001", "tenantId": "pb"}}),
        )
        .await;
    let code = body["otp"]["otp"].as_str().unwrap().to_owned();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            app.validate_otp("9876500001", "pb", wrong).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        app.validate_otp("9876500001", "pb", &code).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[actix_web::test]
async fn a_sent_code_once_validated_can_be_searched_by_the_uuid_the_validation_answered() {
    let app = spawn_app().await;
    let code = app
        .otp_for("9876543211", "pb.amritsar", "register", "CITIZEN")
        .await;
    let (status, body) = app.validate_otp("9876543211", "pb.amritsar", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let uuid = body["otp"]["UUID"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post_internal("/otp/v1/_search", &json!({"otp": {"UUID": uuid}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            &body["otp"]["identity"],
            &body["otp"]["tenantId"],
            &body["otp"]["isValidationSuccessful"]
        ),
        (&json!("9876543211"), &json!("pb"), &json!(true)),
        "{body}"
    );
}
