//! The mGramSeva (NalJalSeva) app and its HRMS as they run today, each request exactly as they send it: the
//! first login that forces HRMS's default password to be changed, the forgot-password screen that names the
//! state, and HRMS listing employees with `/user/_searchByTenant`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Via, otp_in, spawn_app_at};

/// An employee as mGramSeva's HRMS creates one: userName = the mobile number, a default password, at a city.
async fn hrms_employee(app: &TestApp, mobile: &str, city: &str) -> Value {
    app.create(
        json!({"userName": mobile, "name": "Gram Sevak", "mobileNumber": mobile, "type": "EMPLOYEE",
                      "tenantId": city, "active": true, "password": "eGov@123",
                      "roles": [{"code": "EMPLOYEE", "tenantId": city}]}),
    )
    .await
}

/// The app's login: a form with the state tenant and `userType=EMPLOYEE`.
async fn app_login(app: &TestApp, user_name: &str, password: &str) -> (StatusCode, Value) {
    app.token(
        &[
            ("username", user_name),
            ("password", password),
            ("scope", "read"),
            ("grant_type", "password"),
            ("tenantId", "pb"),
            ("userType", "EMPLOYEE"),
        ],
        Via::Form,
    )
    .await
}

/// What the app reads after login: `user[0].defaultPwdChgd` of `/user/_search` by its own id and number.
async fn default_pwd_chgd(app: &TestApp, login: &Value) -> Value {
    let me = &login["UserRequest"];
    let (status, found) = app
        .post_gateway(
            "/user/_search",
            &json!({"RequestInfo": {"apiId": "mgramseva", "authToken": login["access_token"]},
                    "tenantId": me["tenantId"], "id": [me["id"]], "mobileNumber": me["mobileNumber"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found["user"][0]["defaultPwdChgd"].clone()
}

#[actix_web::test]
async fn mgramseva_first_login_forces_the_change_of_hrms_default_password_once() {
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let mobile = "9812345670";
    let created = hrms_employee(&app, mobile, "pb.amritsar").await;
    assert_eq!(created["defaultPwdChgd"], false, "the create answer has it");

    let (status, login) = app_login(&app, mobile, "eGov@123").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(
        default_pwd_chgd(&app, &login).await,
        false,
        "so the app forces the change"
    );

    // the UpdatePassword screen: an OTP to the userName, then the no-login reset
    let me = &login["UserRequest"];
    let (status, sent) = app
        .post(
            "/user-otp/v1/_send",
            &json!({"otp": {"mobileNumber": me["userName"], "tenantId": me["tenantId"], "type": "passwordreset",
                            "locale": "en_IN", "userType": me["type"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let code = app.wait_notifications(1).await[0]["payload"]["message"]
        .as_str()
        .map(otp_in)
        .unwrap();
    let (status, reset) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"otpReference": code, "userName": mobile, "newPassword": "Naljal@2026",
                    "tenantId": me["tenantId"], "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");

    let (status, login) = app_login(&app, mobile, "Naljal@2026").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(
        default_pwd_chgd(&app, &login).await,
        true,
        "not forced again"
    );
}

#[actix_web::test]
async fn a_logged_in_password_change_also_ends_the_default_password_and_an_admin_reset_restores_it()
{
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let mobile = "9812345671";
    let created = hrms_employee(&app, mobile, "pb.amritsar").await;
    let (_, login) = app_login(&app, mobile, "eGov@123").await;
    let (status, body) = app
        .post(
            "/user/password/_update",
            &json!({"RequestInfo": {"authToken": login["access_token"],
                                    "userInfo": {"id": created["id"], "uuid": created["uuid"]}},
                    "existingPassword": "eGov@123", "newPassword": "Naljal@2026",
                    "tenantId": "pb.amritsar", "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, login) = app_login(&app, mobile, "Naljal@2026").await;
    assert_eq!(default_pwd_chgd(&app, &login).await, true);

    // HRMS resets the password: a default password again
    let mut user = app.search_v1(json!({"uuid": [created["uuid"]]})).await[0].clone();
    user["password"] = json!("eGov@456");
    let (status, updated) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": {}, "user": user}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(
        updated["user"][0].get("defaultPwdChgd").is_none(),
        "not in update answers, as in the fork"
    );
    let (_, login) = app_login(&app, mobile, "eGov@456").await;
    assert_eq!(default_pwd_chgd(&app, &login).await, false);
}

/// mGramSeva's forgot-password screen, step 1 and 2, for an employee of `pb.amritsar` whose userName is the
/// number typed; the app names the state.
#[actix_web::test]
async fn mgramseva_forgot_password_finds_the_employee_of_a_city_from_the_state() {
    // a deployment serving two states
    let app = spawn_app_at(actors::Clock::System, |s| {
        s.tenants.states = vec!["pb".into(), "ka".into()]
    })
    .await;
    // userName is the number typed; the stored mobile differs, so the lookup by number finds no one first
    app.create(json!({"userName": "9812345672", "name": "Gram Sevak", "mobileNumber": "9812345679",
                      "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "password": "eGov@123",
                      "roles": [{"code": "EMPLOYEE"}]}))
        .await;
    let forgot = |mobile: &str| {
        json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "passwordreset", "locale": "en_IN",
                       "userType": "Employee"}})
    };
    let (status, body) = app.post("/user-otp/v1/_send", &forgot("9812345672")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sms = &app.wait_notifications(1).await[0]["payload"];
    assert_eq!(sms["mobileNumber"], "9812345679", "to the stored number");
    let code = otp_in(sms["message"].as_str().unwrap());
    let (status, reset) = app
        .post(
            "/user/password/nologin/_update",
            &json!({"otpReference": code, "userName": "9812345672", "newPassword": "Naljal@2026",
                    "tenantId": "pb", "type": "Employee"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(
        app_login(&app, "9812345672", "Naljal@2026").await.0,
        StatusCode::OK
    );

    // by mobile number first: an employee whose stored number is the one typed
    hrms_employee(&app, "9812345673", "pb.jalandhar").await;
    assert_eq!(
        app.post("/user-otp/v1/_send", &forgot("9812345673"))
            .await
            .0,
        StatusCode::CREATED
    );
    // two employees of the state with that number: none is chosen, the contract's error
    let mut twin = crate::helpers::employee("EMP-TWIN");
    twin["mobileNumber"] = json!("9812345673");
    twin["tenantId"] = json!("pb.amritsar");
    app.create(twin).await;
    let (status, body) = app.post("/user-otp/v1/_send", &forgot("9812345673")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::helpers::e2_codes(&body),
        ["OTP.UNKNOWN_MOBILE_NUMBER"]
    );
    // an employee of another state is not found from this one
    hrms_employee(&app, "9812345674", "ka.bangalore").await;
    let (status, body) = app.post("/user-otp/v1/_send", &forgot("9812345674")).await;
    assert_eq!(
        (status, crate::helpers::e2_codes(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["OTP.UNKNOWN_MOBILE_NUMBER".to_owned()]
        )
    );
}

/// mGramSeva's HRMS lists its employees with `/user/_searchByTenant`: `userType`, `tenantIds` and
/// `roleCodes`, no paging keys, no gateway header; it keys the answer by `uuid`.
#[actix_web::test]
async fn mgramseva_hrms_lists_the_employees_of_its_tenants_by_role() {
    let app = spawn_app_at(actors::Clock::System, |_| {}).await;
    let mut created = std::collections::BTreeMap::new();
    for (user_name, roles, active) in [
        (
            "GP-1",
            json!([{"code": "GP_ADMIN", "tenantId": "pb.lodhipur"}]),
            true,
        ),
        (
            "GP-2",
            json!([{"code": "COLLECTION_OPERATOR", "tenantId": "pb.lodhipur"},
                        {"code": "EMPLOYEE", "tenantId": "pb.amritsar"}]),
            false,
        ),
        (
            "GP-3",
            json!([{"code": "GP_ADMIN", "tenantId": "pb.nangal"}]),
            true,
        ),
        (
            "GP-4",
            json!([{"code": "EMPLOYEE", "tenantId": "pb.lodhipur"}]),
            true,
        ),
    ] {
        let user = app
            .create(
                json!({"userName": user_name, "name": "Gram Sevak", "mobileNumber": "9812300000",
                           "type": "EMPLOYEE", "tenantId": "pb.lodhipur", "active": active,
                           "password": "eGov@123", "roles": roles}),
            )
            .await;
        created.insert(user_name, user["uuid"].as_str().unwrap().to_owned());
    }
    let search = |body: Value| {
        let app = &app;
        async move { app.post("/user/_searchByTenant", &body).await }
    };
    let names = |body: &Value| -> Vec<String> {
        body["user"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = search(
        json!({"RequestInfo": {"apiId": "Rainmaker"}, "userType": "EMPLOYEE",
                                       "tenantIds": ["pb.lodhipur"],
                                       "roleCodes": ["GP_ADMIN", "COLLECTION_OPERATOR"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["responseInfo"]["status"], "200");
    assert_eq!(
        names(&body),
        ["GP-1", "GP-2"],
        "inactive users too: no active default"
    );
    let first = &body["user"][0];
    assert_eq!(first["uuid"], created["GP-1"].as_str());
    for key in [
        "createdDate",
        "lastModifiedDate",
        "pwdExpiryDate",
        "dob",
        "roles",
        "defaultPwdChgd",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }

    let (_, body) =
        search(json!({"tenantIds": ["pb.lodhipur", "pb.nangal"], "roleCodes": ["GP_ADMIN"]})).await;
    assert_eq!(names(&body), ["GP-1", "GP-3"]);
    let (_, body) = search(json!({"tenantIds": ["pb.lodhipur"], "active": true})).await;
    assert_eq!(names(&body), ["GP-1", "GP-4"], "any role in the tenant");
    let (_, body) =
        search(json!({"tenantIds": ["pb.amritsar"], "roleCodes": ["EMPLOYEE"], "pageSize": 1}))
            .await;
    assert_eq!(names(&body), ["GP-2"]);
    let (_, body) = search(json!({"tenantIds": ["pb.nowhere"], "roleCodes": ["GP_ADMIN"]})).await;
    assert_eq!(names(&body), Vec::<String>::new());

    for body in [json!({"roleCodes": ["GP_ADMIN"]}), json!({"tenantIds": []})] {
        let (status, answer) = search(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer["Errors"][0]["code"],
            "InvalidUserSearchCriteriaException"
        );
    }
}
