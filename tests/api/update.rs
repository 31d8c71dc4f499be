//! `/user/users/_updatenovalidate` and `/user/profile/_update`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{employee, first_code, spawn_app};

fn full_employee(user_name: &str) -> Value {
    let mut u = employee(user_name);
    u["emailId"] = json!("old@example.org");
    u["pan"] = json!("ABCDE1234F");
    u["gender"] = json!("MALE");
    u["dob"] = json!("01/01/1980");
    u["bloodGroup"] = json!("A+");
    u["permanentAddress"] = json!("Old House");
    u["permanentCity"] = json!("Amritsar");
    u["permanentPinCode"] = json!("143001");
    u["correspondenceAddress"] = json!("Office");
    u
}

#[actix_web::test]
async fn admin_update_overwrites_keeps_and_answers_the_update_shape() {
    let app = spawn_app().await;
    let created = app.create(full_employee("UPD")).await;
    let info = json!({"userInfo": {"id": 42, "uuid": "bbbbbbbb-0000-4000-8000-000000000002", "roles": [{"code": "SUPERUSER"}]}});
    let update = json!({
        "uuid": created["uuid"], "id": 999_999, "tenantId": "pb.amritsar", "name": "New Name",
        "userName": "RENAMED", "permanentAddress": "New House", "roles": [{"code": "EMPLOYEE"}, {"code": "GRO"}],
        "type": "EMPLOYEE"
    });
    let (status, body) = app
        .post_gateway(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": info, "user": update}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let u = &body["user"][0];
    assert!(
        u.get("countryCode").is_none() && u.get("relationship").is_none(),
        "UpdateRequest omits them: {u}"
    );
    assert_eq!(u["password"], Value::Null);
    assert_eq!(
        u["id"], created["id"],
        "keyed on the loaded record, not the request id"
    );
    assert_eq!(u["userName"], "UPD", "userName cannot change");
    assert_eq!(u["name"], "New Name");
    assert_eq!(u["permanentAddress"], "New House");
    assert_eq!(
        u["permanentCity"],
        Value::Null,
        "overwritten from the request"
    );
    assert_eq!(
        u["correspondenceAddress"],
        Value::Null,
        "an address the request lacks is removed"
    );
    assert_eq!(u["emailId"], Value::Null);
    assert_eq!(u["pan"], Value::Null);
    assert_eq!(u["gender"], Value::Null);
    assert_eq!(u["mobileNumber"], "9876543210", "kept when absent");
    assert_eq!(u["dob"], "1980-01-01", "kept, written as yyyy-MM-dd");
    assert_eq!(u["bloodGroup"], "A+", "kept when absent");
    assert_eq!(u["lastModifiedBy"], 42);
    assert_eq!(u["roles"].as_array().unwrap().len(), 2);
    // and the search sees the same record through its new index entries
    let found = app
        .search_v1(json!({"name": "new name", "tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(found[0]["uuid"], created["uuid"]);
    assert!(
        app.search_v1(json!({"emailId": "old@example.org"}))
            .await
            .is_empty(),
        "old index entries are gone"
    );
    let by_role = app
        .search_v1(json!({"roleCodes": ["GRO"], "tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(by_role.len(), 1);
}

#[actix_web::test]
async fn admin_update_errors() {
    let app = spawn_app().await;
    let created = app.create(employee("UERR")).await;
    let (_, body) = app
        .post("/user/users/_updatenovalidate", &json!({"user": {"uuid": "00000000-0000-4000-8000-000000000000", "tenantId": "pb.amritsar", "roles": [{"code": "EMPLOYEE"}]}}))
        .await;
    assert_eq!(first_code(&body), "UserNotFoundException");
    let (_, body) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"user": {"uuid": created["uuid"], "tenantId": "pb.amritsar"}}),
        )
        .await;
    assert_eq!(first_code(&body), "AtleastOneRoleCodeException");
    let (_, body) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"user": {"uuid": created["uuid"], "roles": [{"code": "EMPLOYEE"}]}}),
        )
        .await;
    assert_eq!(first_code(&body), "InvalidUserUpdateException");
    let (_, body) = app
        .post("/user/users/_updatenovalidate", &json!({"user": {"uuid": created["uuid"], "tenantId": "pb.amritsar", "roles": [{"code": "EMPLOYEE"}], "password": "weak"}}))
        .await;
    assert_eq!(first_code(&body), "INVALID_PWD_LENGTH");
    // none of the refused updates changed the stored user
    let found = app.search_v1(json!({"uuid": [created["uuid"]]})).await;
    assert_eq!(found[0]["name"], "Asha Devi");
}

#[actix_web::test]
async fn gateway_marked_updates_need_superuser() {
    let app = spawn_app().await;
    let created = app.create(employee("UGW")).await;
    let body = |role: &str| {
        json!({"RequestInfo": {"userInfo": {"id": 1, "uuid": "x", "roles": [{"code": role}]}},
               "user": {"uuid": created["uuid"], "tenantId": "pb.amritsar", "name": "X", "roles": [{"code": "EMPLOYEE"}]}})
    };
    let (status, _) = app
        .post_gateway("/user/users/_updatenovalidate", &body("CSR"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post_gateway("/user/users/_updatenovalidate", &body("SUPERUSER"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn profile_update_is_for_the_owner_and_keeps_protected_fields() {
    let app = spawn_app().await;
    let created = app.create(full_employee("PROF")).await;
    let me = json!({"userInfo": {"id": created["id"], "uuid": created["uuid"], "roles": [{"code": "EMPLOYEE"}]}});
    // what the UI sends: the whole user from search, modified
    let mut user = app.search_v1(json!({"uuid": [created["uuid"]]})).await[0].clone();
    user["name"] = json!("Asha Kumari");
    user["mobileNumber"] = json!("9000000009");
    user["active"] = json!(false);
    user["type"] = json!("SYSTEM");
    user["roles"] = json!([{"code": "SUPERUSER"}]);
    user["photo"] = json!("https://filestore/photo.png");
    let (status, body) = app
        .post(
            "/user/profile/_update",
            &json!({"RequestInfo": me, "user": user.clone()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let u = &body["user"][0];
    assert_eq!(u["name"], "Asha Kumari");
    assert_eq!(u["mobileNumber"], "9876543210");
    assert_eq!(u["active"], true);
    assert_eq!(u["type"], "EMPLOYEE");
    assert_eq!(u["roles"][0]["code"], "EMPLOYEE");
    assert_eq!(
        u["dob"], "1980-01-01",
        "the yyyy-MM-dd date search returned is read back"
    );

    let someone_else =
        json!({"userInfo": {"id": 1, "uuid": "cccccccc-0000-4000-8000-000000000003"}});
    let (status, body) = app
        .post(
            "/user/profile/_update",
            &json!({"RequestInfo": someone_else, "user": user.clone()}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "UserProfileUpdateDeniedException");
    let (_, body) = app
        .post("/user/profile/_update", &json!({"user": user.clone()}))
        .await;
    assert_eq!(
        first_code(&body),
        "UserProfileUpdateDeniedException",
        "no userInfo"
    );
    let mut no_id = user.clone();
    no_id.as_object_mut().unwrap().remove("id");
    let me = json!({"userInfo": {"id": created["id"], "uuid": created["uuid"]}});
    let (_, body) = app
        .post(
            "/user/profile/_update",
            &json!({"RequestInfo": me, "user": no_id}),
        )
        .await;
    assert_eq!(first_code(&body), "UserProfileUpdateDeniedException");
    let mut bad_alt = user;
    bad_alt["alternatemobilenumber"] = json!("12");
    let me = json!({"userInfo": {"id": created["id"], "uuid": created["uuid"]}});
    let (_, body) = app
        .post(
            "/user/profile/_update",
            &json!({"RequestInfo": me, "user": bad_alt}),
        )
        .await;
    assert_eq!(first_code(&body), "INVALID_MOBILE_NUMBER");
}

/// A profile update of `created` by itself, sending `user`: (status, body).
async fn own_profile_update(
    app: &crate::helpers::TestApp,
    created: &Value,
    user: &Value,
) -> (StatusCode, Value) {
    let me = json!({"userInfo": {"id": created["id"], "uuid": created["uuid"], "roles": [{"code": "EMPLOYEE"}]}});
    app.post(
        "/user/profile/_update",
        &json!({"RequestInfo": me, "user": user}),
    )
    .await
}

/// Creates `employee`, reads it back as the UI does and changes its name by its own profile update (which
/// changes nothing a check or a notice is about): (the created user, the user as read and renamed).
async fn created_and_renamed(app: &crate::helpers::TestApp, employee: Value) -> (Value, Value) {
    let created = app.create(employee).await;
    let mut user = app.search_v1(json!({"uuid": [created["uuid"]]})).await[0].clone();
    user["name"] = json!("Asha Kumari");
    assert_eq!(
        own_profile_update(app, &created, &user).await.0,
        StatusCode::OK
    );
    (created, user)
}

#[actix_web::test]
async fn a_changed_e_mail_is_told_to_the_old_address_and_the_number_exactly_once() {
    let app = spawn_app().await;
    // a change of the name alone tells nobody
    let (created, mut user) = created_and_renamed(&app, full_employee("MAILCHG")).await;
    user["emailId"] = json!("new@example.org");
    let (status, body) = own_profile_update(&app, &created, &user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // the same address again (case aside): nothing more
    user["emailId"] = json!("NEW@example.org");
    assert_eq!(
        own_profile_update(&app, &created, &user).await.0,
        StatusCode::OK
    );
    let sent = app.settled_notifications().await;
    let text = "Dear Citizen, your e-mail has been updated from old@example.org to new@example.org.\n\nEGOVS";
    assert_eq!(
        sent.iter()
            .map(|n| (n["channel"].clone(), n["payload"].clone()))
            .collect::<Vec<_>>(),
        vec![
            (
                json!("email"),
                json!({"requestInfo": sent[0]["payload"]["requestInfo"],
                       "email": {"emailTo": ["old@example.org"], "subject": "Email Update Notification", "body": text}})
            ),
            (
                json!("notice"),
                json!({"mobileNumber": "9876543210", "message": text})
            ),
        ],
        "{sent:?}"
    );
    // an admin update of the address tells nobody (DIGIT sends it on the profile update only)
    let (status, _) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"user": {"uuid": created["uuid"], "tenantId": "pb.amritsar", "emailId": "admin@example.org",
                             "roles": [{"code": "EMPLOYEE"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.settled_notifications().await.len(), 2);
}

#[actix_web::test]
async fn with_the_re_check_on_an_e_mail_change_needs_the_current_password() {
    let app = crate::helpers::spawn_app_with(|s| s.user.profile_update_recheck = true).await;
    let mut employee = full_employee("RECHECK");
    employee["password"] = json!("Asha@12345");
    // other fields change freely
    let (created, mut user) = created_and_renamed(&app, employee).await;
    user["emailId"] = json!("new@example.org");
    for password in [None, Some("Wrong@12345")] {
        if let Some(p) = password {
            user["password"] = json!(p);
        }
        let (status, body) = own_profile_update(&app, &created, &user).await;
        assert_eq!(
            (status, first_code(&body)),
            (
                StatusCode::BAD_REQUEST,
                "UserProfileUpdateDeniedException".into()
            ),
            "{password:?}"
        );
    }
    assert_eq!(
        app.search_v1(json!({"uuid": [created["uuid"]]})).await[0]["emailId"],
        "old@example.org"
    );
    user["password"] = json!("Asha@12345");
    let (status, body) = own_profile_update(&app, &created, &user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"][0]["emailId"], "new@example.org");
}
