//! Malformed bodies, wrong types, oversized bodies, unknown enum values, bean-validation failures: each is
//! a 400 in the E1 shape naming the problem, and nothing stored changes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, employee, first_code, spawn_app};

async fn assert_nothing_stored(app: &TestApp) {
    let found = app
        .search_v1(json!({"userName": "BAD", "tenantId": "pb.amritsar"}))
        .await;
    assert!(
        found.is_empty(),
        "a refused request stored a user: {found:?}"
    );
}

fn assert_e1(body: &Value) {
    assert_eq!(body["ResponseInfo"], Value::Null, "{body}");
    let e = &body["Errors"][0];
    for key in ["code", "message", "description", "params"] {
        assert!(e.get(key).is_some(), "E1 entry lacks {key}: {body}");
    }
}

#[actix_web::test]
async fn malformed_empty_and_wrapperless_bodies() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_raw("/user/users/_createnovalidate", b"{\"user\": {".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_e1(&body);
    assert_eq!(first_code(&body), "JsonParseException");
    let (status, body) = app
        .post_raw("/user/users/_createnovalidate", Vec::new())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "MissingJsonException");
    assert_eq!(
        body["Errors"][0]["message"],
        "JSON body has errors or is missing"
    );
    let (status, body) = app
        .post("/user/users/_createnovalidate", &json!({"RequestInfo": {}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "NotNull.createUserRequest.user");
    assert_eq!(body["Errors"][0]["message"], "may not be null");
    let (_, body) = app.post("/user/_search", &json!([1, 2])).await;
    assert_eq!(first_code(&body), "JsonMappingException");
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn wrong_types_name_the_field() {
    let app = spawn_app().await;
    let mut user = employee("BAD");
    user["id"] = json!("not-a-number");
    let (status, body) = app.try_create(user).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_e1(&body);
    assert_eq!(first_code(&body), "JsonMappingException");
    assert!(
        body["Errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("user.id"),
        "{body}"
    );
    let mut user = employee("BAD");
    user["roles"] = json!("EMPLOYEE");
    let (_, body) = app.try_create(user).await;
    assert_eq!(first_code(&body), "JsonMappingException");
    assert!(
        body["Errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("user.roles"),
        "{body}"
    );
    let mut user = employee("BAD");
    user["dob"] = json!("1990/13/45");
    let (_, body) = app.try_create(user).await;
    assert_eq!(first_code(&body), "JsonMappingException");
    assert!(
        body["Errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("user.dob")
    );
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn unknown_enum_values() {
    let app = spawn_app().await;
    let mut user = employee("BAD");
    user["gender"] = json!("xyz");
    let (status, body) = app.try_create(user).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "IllegalArgumentException");
    assert_eq!(
        body["Errors"][0]["description"],
        "No enum constant org.egov.user.domain.model.enums.Gender.XYZ"
    );
    let mut user = employee("BAD");
    user["relationship"] = json!("COUSIN");
    let (_, body) = app.try_create(user).await;
    assert_eq!(first_code(&body), "JsonMappingException");
    assert!(
        body["Errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("relationship")
    );
    // unknown type reads as absent, which the presence check names; unknown blood group is dropped
    let mut user = employee("BAD");
    user["type"] = json!("ADMIN");
    let (_, body) = app.try_create(user).await;
    assert_eq!(first_code(&body), "InvalidUserCreateException");
    assert_nothing_stored(&app).await;
    let mut user = employee("BLOOD");
    user["bloodGroup"] = json!("Z+");
    assert_eq!(app.create(user).await["bloodGroup"], Value::Null);
}

#[actix_web::test]
async fn bean_validation_codes_and_messages() {
    let app = spawn_app().await;
    let cases = [
        (
            "name",
            json!("Asha$"),
            "Pattern.createUserRequest.user.name",
        ),
        (
            "name",
            json!("x".repeat(51)),
            "Size.createUserRequest.user.name",
        ),
        (
            "emailId",
            json!("not-an-email"),
            "Email.createUserRequest.user.emailId",
        ),
        (
            "permanentPinCode",
            json!("043001"),
            "Pattern.createUserRequest.user.permanentPinCode",
        ),
        (
            "permanentCity",
            json!("City 17"),
            "Pattern.createUserRequest.user.permanentCity",
        ),
        (
            "tenantId",
            json!("pb.city1"),
            "Pattern.createUserRequest.user.tenantId",
        ),
        (
            "pan",
            json!("<script>x"),
            "CustomSafeHtml.createUserRequest.user.pan",
        ),
        (
            "userName",
            json!("<img src=x onerror=alert(1)>"),
            "CustomSafeHtml.createUserRequest.user.userName",
        ),
        (
            "gender",
            json!("M4LE"),
            "Pattern.createUserRequest.user.gender",
        ),
        (
            "aadhaarNumber",
            json!("1".repeat(21)),
            "Size.createUserRequest.user.aadhaarNumber",
        ),
    ];
    for (field, value, code) in cases {
        let mut user = employee("BAD");
        user[field] = value;
        let (status, body) = app.try_create(user).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_e1(&body);
        assert_eq!(first_code(&body), code, "{body}");
    }
    let mut user = employee("BAD");
    user["name"] = json!("x".repeat(51));
    let (_, body) = app.try_create(user).await;
    assert_eq!(
        body["Errors"][0]["message"],
        "size must be between 0 and 50"
    );
    // several violations come back together
    let mut user = employee("BAD");
    user["emailId"] = json!("bad");
    user["permanentPinCode"] = json!("1");
    let (_, body) = app.try_create(user).await;
    assert_eq!(body["Errors"].as_array().unwrap().len(), 2);
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn oversized_bodies_are_refused_unread() {
    let app = crate::helpers::spawn_app_with(|s| s.http.max_body_bytes = 4096).await;
    let mut user = employee("BAD");
    user["identificationMark"] = json!("x".repeat(8000));
    let (status, body) = app.try_create(user).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_e1(&body);
    assert_eq!(first_code(&body), "PAYLOAD_TOO_LARGE");
    assert!(
        body["Errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4096")
    );
    assert_nothing_stored(&app).await;
}

#[actix_web::test]
async fn keys_bind_case_insensitively_and_scalars_leniently() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"requestInfo": {"TS": "28-03-2016 10:22:33", "ver": 1.0},
                    "USER": {"USERNAME": "CASE", "Name": "Case Test", "MobileNumber": 9876543210u64, "Type": "employee",
                             "TenantID": "pb.amritsar", "Active": "true", "ROLES": [{"CODE": "EMPLOYEE"}],
                             "permanentPINCODE": "143001", "unknownKey": {"ignored": true}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let u = &body["user"][0];
    assert_eq!(
        (
            u["userName"].as_str(),
            u["active"].as_bool(),
            u["permanentPinCode"].as_str()
        ),
        (Some("CASE"), Some(true), Some("143001"))
    );
}

#[actix_web::test]
async fn a_malformed_role_tenant_is_refused_not_replaced() {
    let app = spawn_app().await;
    let mut user = employee("BAD");
    user["roles"] = json!([{"code": "EMPLOYEE", "tenantId": "pb.city1"}]);
    let (status, body) = app.try_create(user).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        first_code(&body),
        "Pattern.createUserRequest.user.roles.tenantId"
    );
    assert_nothing_stored(&app).await;
}
