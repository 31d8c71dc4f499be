//! `/user/users/_createnovalidate`

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{employee, first_code, spawn_app};

#[actix_web::test]
async fn create_answers_the_user_request_shape_field_by_field() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({
                "RequestInfo": {"apiId": "Rainmaker", "ver": 1.0, "ts": "", "msgId": "1690000000000|en_IN",
                                "userInfo": {"id": 7, "uuid": "aaaaaaaa-0000-4000-8000-000000000001"}},
                "User": {
                    "userName": "EMP-1", "name": "Asha Devi", "mobileNumber": 9876543210i64, "type": "employee",
                    "tenantId": "pb.amritsar", "gender": "female", "emailId": "asha@example.org",
                    "dob": "03/08/1917", "bloodGroup": "O_POSITIVE", "permanentAddress": "House 12, Ward 3",
                    "permanentCity": "Amritsar", "permanentPincode": "143001", "fatherOrHusbandName": "Ram Lal",
                    "relationship": "FATHER", "password": "Abcdef1@", "active": true, "locale": "en_IN",
                    "roles": [{"code": "EMPLOYEE"}, {"code": "GRO", "tenantId": "pb"}],
                    "pwdExpiryDate": "08-02-2030 16:45:36", "createdDate": "whatever: ignored on input"
                }
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["responseInfo"],
        json!({"apiId": null, "ver": null, "ts": null, "resMsgId": null, "msgId": null, "status": "200"})
    );
    let u = &body["user"][0];
    let raw = app
        .post_text(
            "/user/v1/_search",
            &json!({"userName": "EMP-1", "tenantId": "pb.amritsar"}),
        )
        .await;
    crate::helpers::assert_key_order(
        &raw,
        &[
            "id",
            "userName",
            "salutation",
            "name",
            "gender",
            "mobileNumber",
            "countryCode",
            "alternatemobilenumber",
            "emailId",
            "altContactNumber",
            "pan",
            "aadhaarNumber",
            "permanentAddress",
            "permanentCity",
            "permanentPinCode",
            "correspondenceAddress",
            "correspondenceCity",
            "correspondencePinCode",
            "active",
            "locale",
            "type",
            "accountLocked",
            "accountLockedDate",
            "fatherOrHusbandName",
            "relationship",
            "signature",
            "bloodGroup",
            "photo",
            "identificationMark",
            "createdBy",
            "lastModifiedBy",
            "tenantId",
            "roles",
            "uuid",
            "createdDate",
            "lastModifiedDate",
            "dob",
            "pwdExpiryDate",
            "defaultPwdChgd",
        ],
    );
    assert_eq!(
        u.as_object().unwrap().len(),
        41,
        "UserRequest has 41 fields (mGramSeva's defaultPwdChgd last): {u}"
    );
    assert_eq!(u["defaultPwdChgd"], false, "created with HRMS's password");
    assert!(u["id"].as_i64().unwrap() > 0);
    assert_eq!(u["userName"], "EMP-1");
    assert_eq!(u["name"], "Asha Devi");
    assert_eq!(u["gender"], "FEMALE");
    assert_eq!(u["mobileNumber"], "9876543210");
    assert_eq!(u["countryCode"], "+91");
    assert_eq!(u["emailId"], "asha@example.org");
    assert_eq!(u["permanentAddress"], "House 12, Ward 3");
    assert_eq!(u["permanentCity"], "Amritsar");
    assert_eq!(u["permanentPinCode"], "143001");
    assert_eq!(u["correspondenceAddress"], Value::Null);
    assert_eq!(u["active"], true);
    assert_eq!(u["type"], "EMPLOYEE");
    assert_eq!(u["accountLocked"], false);
    assert_eq!(u["accountLockedDate"], Value::Null);
    assert_eq!(u["fatherOrHusbandName"], "Ram Lal");
    assert_eq!(u["relationship"], "FATHER");
    assert_eq!(u["bloodGroup"], "O+");
    assert_eq!(u["password"], Value::Null, "the password never comes back");
    assert_eq!(u["otpReference"], Value::Null);
    assert_eq!(u["createdBy"], 7);
    assert_eq!(u["tenantId"], "pb.amritsar");
    assert_eq!(
        u["roles"],
        json!([
            {"code": "EMPLOYEE", "name": "Employee", "tenantId": "pb.amritsar"},
            {"code": "GRO", "name": "Grievance Routing Officer", "tenantId": "pb"}
        ])
    );
    assert_eq!(
        uuid::Uuid::parse_str(u["uuid"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        4
    );
    assert_eq!(u["dob"], "03/08/1917");
    assert_eq!(u["pwdExpiryDate"], "08-02-2030 16:45:36");
    let created = u["createdDate"].as_str().unwrap();
    assert_eq!(created.len(), "dd-MM-yyyy HH:mm:ss".len());
    assert_eq!(&created[2..3], "-");
}

#[actix_web::test]
async fn defaults_on_create_and_citizen_tenant_truncation() {
    let app = spawn_app().await;
    let u = app
        .create(json!({"userName": "9123456780", "name": "Ravi", "mobileNumber": "9123456780", "type": "CITIZEN",
                       "tenantId": "pb.amritsar", "roles": [{"code": "CITIZEN"}]}))
        .await;
    assert_eq!(u["tenantId"], "pb", "citizens live at the state tenant");
    assert_eq!(u["roles"][0]["tenantId"], "pb");
    assert_eq!(u["active"], false, "absent active is false");
    assert_eq!(u["accountLocked"], false);
    assert_eq!(u["createdBy"], Value::Null);
    // pwdExpiryDate defaults to now + 90 days: the year of a date 90 days ahead
    let expiry = u["pwdExpiryDate"].as_str().unwrap();
    let created = u["createdDate"].as_str().unwrap();
    assert_ne!(expiry[..10].to_owned(), created[..10].to_owned());
}

#[actix_web::test]
async fn duplicate_username_type_and_tenant_is_refused_but_other_type_is_not() {
    let app = spawn_app().await;
    app.create(employee("DUP")).await;
    let (status, body) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"user": employee("DUP")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "DuplicateUserNameException");
    assert_eq!(
        body["Errors"][0]["message"],
        "An unhandled exception occurred on the server"
    );
    let mut system = employee("DUP");
    system["type"] = json!("SYSTEM");
    system["roles"] = json!([{"code": "INTERNAL_MICROSERVICE_ROLE"}]);
    app.create(system).await;
    let mut other_city = employee("DUP");
    other_city["tenantId"] = json!("pb.jalandhar");
    app.create(other_city).await;
}

#[actix_web::test]
async fn concurrent_creates_of_one_username_let_exactly_one_win() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(actix_web::rt::spawn(async move {
            app.post(
                "/user/users/_createnovalidate",
                &json!({"user": employee("RACE")}),
            )
            .await
            .0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    let found = app
        .search_v1(json!({"userName": "RACE", "tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(found.len(), 1);
}

#[actix_web::test]
async fn presence_checks_name_what_is_missing() {
    let app = spawn_app().await;
    for (field, expect) in [
        ("userName", "userName"),
        ("name", "name"),
        ("mobileNumber", "mobileNumber"),
        ("type", "type"),
        ("roles", "roles"),
        ("tenantId", "tenantId"),
    ] {
        let mut user = employee("MISS");
        user.as_object_mut().unwrap().remove(field);
        let (status, body) = app.try_create(user).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(
            first_code(&body),
            "InvalidUserCreateException",
            "{field}: {body}"
        );
        assert!(
            body["Errors"][0]["description"]
                .as_str()
                .unwrap()
                .contains(expect),
            "{body}"
        );
    }
}

#[actix_web::test]
async fn mobile_numbers_follow_the_state_rule() {
    let app = spawn_app().await;
    let mut user = employee("MOB");
    user["mobileNumber"] = json!("5876543210");
    let (status, body) = app.try_create(user).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "INVALID_MOBILE_NUMBER");
    assert_eq!(
        body["Errors"][0]["message"],
        "Mobile number must match the configured pattern: ^[6-9][0-9]{9}$"
    );
    let mut alt = employee("MOB");
    alt["alternatemobilenumber"] = json!("123");
    let (_, body) = app.try_create(alt).await;
    assert_eq!(first_code(&body), "INVALID_MOBILE_NUMBER");
}

#[actix_web::test]
async fn mobile_may_be_omitted_by_inter_service_calls_only_with_the_workaround() {
    let app = crate::helpers::spawn_app_with(|s| s.user.mobile_validation_workaround = true).await;
    let mut user = employee("NOMOB");
    user.as_object_mut().unwrap().remove("mobileNumber");
    let (status, _) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"user": user.clone()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    user["userName"] = json!("NOMOB2");
    let info = json!({"userInfo": {"id": 1, "uuid": "u", "roles": [{"code": "SUPERUSER"}]}});
    let (status, body) = app
        .post_gateway(
            "/user/users/_createnovalidate",
            &json!({"RequestInfo": info, "user": user}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "InvalidUserCreateException");
}

#[actix_web::test]
async fn roles_must_exist_in_the_catalog_and_the_users_state() {
    let app = spawn_app().await;
    let mut user = employee("ROLE");
    user["roles"] = json!([{"code": "NO_SUCH_ROLE"}]);
    let (status, body) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"user": user.clone()}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "INVALID_ROLE");
    assert_eq!(
        body["Errors"][0]["message"],
        "Unable to validate role from MDMS"
    );
    user["roles"] = json!([{"code": "EMPLOYEE", "tenantId": "hr.karnal"}]);
    let (_, body) = app.try_create(user).await;
    assert_eq!(first_code(&body), "INVALID_ROLE_TENANT");
}

#[actix_web::test]
async fn passwords_follow_the_digit_policy() {
    let app = spawn_app().await;
    let mut user = employee("PW");
    user["password"] = json!("abc");
    let (status, body) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"user": user.clone()}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let codes: Vec<&str> = body["Errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["INVALID_PWD_LENGTH", "INVALID_PWD_PATTERN"]);
    assert_eq!(
        body["Errors"][0]["message"],
        "Password must be of minimum: 8 and maximum: 15 characters."
    );
    user["password"] = json!("x Abcdef1@");
    let (_, body) = app.try_create(user).await;
    assert_eq!(
        first_code(&body),
        "INVALID_PWD_PATTERN",
        "white space before a compliant tail is refused"
    );
}

#[actix_web::test]
async fn gateway_marked_creates_need_a_listed_role_and_inter_service_calls_pass() {
    let app = spawn_app().await;
    let as_role = |role: &str| json!({"userInfo": {"id": 1, "uuid": "x", "roles": [{"code": role, "tenantId": "pb"}]}});
    let (status, body) = app
        .post_gateway(
            "/user/users/_createnovalidate",
            &json!({"RequestInfo": as_role("EMPLOYEE"), "user": employee("G1")}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(first_code(&body), "ACCESS_DENIED");
    let (status, _) = app
        .post_gateway(
            "/user/users/_createnovalidate",
            &json!({"user": employee("G1")}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no userInfo through the gateway"
    );
    for (i, role) in ["SUPERUSER", "CSR", "TL_APPROVER", "TL_CEMP"]
        .into_iter()
        .enumerate()
    {
        let (status, body) = app
            .post_gateway(
                "/user/users/_createnovalidate",
                &json!({"RequestInfo": as_role(role), "user": employee(&format!("G{i}"))}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
    }
    let (status, _) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"user": employee("G9")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "inter-service calls pass");
}

#[actix_web::test]
async fn gateway_roles_are_configurable() {
    let app =
        crate::helpers::spawn_app_with(|s| s.user.create_roles = vec!["HRMS_ADMIN".into()]).await;
    let info = json!({"userInfo": {"id": 1, "uuid": "x", "roles": [{"code": "SUPERUSER"}]}});
    let (status, _) = app
        .post_gateway(
            "/user/users/_createnovalidate",
            &json!({"RequestInfo": info, "user": employee("C1")}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let info = json!({"userInfo": {"id": 1, "uuid": "x", "roles": [{"code": "HRMS_ADMIN"}]}});
    let (status, _) = app
        .post_gateway(
            "/user/users/_createnovalidate",
            &json!({"RequestInfo": info, "user": employee("C1")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn health_endpoints_answer_on_both_listeners() {
    let app = spawn_app().await;
    assert_eq!(app.get_internal("/health/ready").await, StatusCode::OK);
    assert_eq!(app.get_internal("/health/live").await, StatusCode::OK);
    let status = reqwest::get(format!("{}/health/ready", app.public))
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn a_saturated_hasher_answers_503_and_stores_nothing_for_refused_requests() {
    let app = std::sync::Arc::new(
        crate::helpers::spawn_app_with(|s| {
            s.hasher.threads = 1;
            s.hasher.queue = 1;
            s.hasher.memory_kib = 32 * 1024;
            s.hasher.iterations = 4;
        })
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..6 {
        let app = app.clone();
        let mut user = employee(&format!("BUSY{i}"));
        user["password"] = json!("Abcdef1@");
        tasks.push(actix_web::rt::spawn(
            async move { app.try_create(user).await },
        ));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(first_code(&body), "SERVICE_BUSY");
                assert_eq!(body["ResponseInfo"], Value::Null);
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
    let stored = app
        .search_v1(json!({"roleCodes": ["EMPLOYEE"], "tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(stored.len(), ok);
}

#[actix_web::test]
async fn dates_given_as_epoch_milliseconds() {
    let app = spawn_app().await;
    let mut user = employee("EPOCH");
    user["dob"] = json!(523_497_600_000i64); // 1986-08-04T00:00:00Z
    user["pwdExpiryDate"] = json!(1_893_456_000_000i64); // 2030-01-01T00:00:00Z
    let u = app.create(user).await;
    assert_eq!(u["dob"], "04/08/1986");
    assert_eq!(u["pwdExpiryDate"], "01-01-2030 00:00:00");
}
