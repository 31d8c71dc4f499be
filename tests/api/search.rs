//! `/user/_search` and `/user/v1/_search`: criteria rules, `active` defaults, paging, order, sort, roles.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, employee, first_code, spawn_app};

/// Creates `n` employees NAME0..NAMEn-1 in pb.amritsar sharing a name, alternately active and inactive.
async fn seed(app: &TestApp, prefix: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut user = employee(&format!("{prefix}{i}"));
        user["name"] = json!(format!("{prefix} Family"));
        user["active"] = json!(i % 2 == 0);
        ids.push(app.create(user).await["id"].as_i64().unwrap());
    }
    ids
}

fn ids(users: &[Value]) -> Vec<i64> {
    users.iter().map(|u| u["id"].as_i64().unwrap()).collect()
}

#[actix_web::test]
async fn search_answers_the_search_shape() {
    let app = spawn_app().await;
    let mut user = employee("SHAPE");
    user["dob"] = json!("03/08/1917");
    user["password"] = json!("Abcdef1@");
    app.create(user).await;
    let (status, body) = app
        .post(
            "/user/_search",
            &json!({"userName": "SHAPE", "tenantId": "pb.amritsar"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["responseInfo"]["status"], "200");
    let u = &body["user"][0];
    assert_eq!(u["dob"], "1917-08-03", "search writes dob as yyyy-MM-dd");
    assert_eq!(u["accountLockedDate"], 0);
    assert_eq!(u["createdBy"], 0);
    assert_eq!(u["lastModifiedBy"], 0);
    assert!(
        u.get("password").is_none() && u.get("otpReference").is_none(),
        "{u}"
    );
    assert_eq!(u["countryCode"], "+91");
    assert_eq!(
        u["roles"],
        json!([{"code": "EMPLOYEE", "name": "Employee", "tenantId": "pb.amritsar"}])
    );
}

#[actix_web::test]
async fn active_defaults_to_true_on_search_but_not_on_v1() {
    let app = spawn_app().await;
    seed(&app, "ACT", 4).await;
    let criteria = json!({"name": "ACT Family", "tenantId": "pb.amritsar"});
    let (_, body) = app.post("/user/_search", &criteria).await;
    assert_eq!(
        body["user"].as_array().unwrap().len(),
        2,
        "only active users"
    );
    assert_eq!(app.search_v1(criteria.clone()).await.len(), 4, "v1: both");
    let mut inactive = criteria.clone();
    inactive["active"] = json!(false);
    let (_, body) = app.post("/user/_search", &inactive).await;
    assert_eq!(body["user"].as_array().unwrap().len(), 2);
    assert!(
        body["user"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["active"] == false)
    );
}

#[actix_web::test]
async fn results_come_in_id_order_and_page_number_is_a_row_offset() {
    let app = spawn_app().await;
    let created = seed(&app, "PAGE", 7).await;
    let mut sorted = created.clone();
    sorted.sort();
    let all = app
        .search_v1(json!({"name": "page family", "tenantId": "pb.amritsar", "sort": ["userName"]}))
        .await;
    assert_eq!(
        ids(&all),
        sorted,
        "case-insensitive name match, id order whatever the sort"
    );
    let page = app.search_v1(json!({"name": "PAGE Family", "tenantId": "pb.amritsar", "pageSize": 2, "pageNumber": 3})).await;
    assert_eq!(ids(&page), sorted[3..5].to_vec());
}

#[actix_web::test]
async fn gateway_page_size_is_capped_to_the_default_size() {
    let app = spawn_app().await;
    seed(&app, "CAP", 24).await;
    let criteria =
        json!({"name": "CAP Family", "tenantId": "pb.amritsar", "active": true, "pageSize": 100});
    let (_, body) = app.post_gateway("/user/_search", &criteria).await;
    assert_eq!(
        body["user"].as_array().unwrap().len(),
        10,
        "egov.user.search.default.size"
    );
    let (_, body) = app.post("/user/_search", &criteria).await;
    assert_eq!(
        body["user"].as_array().unwrap().len(),
        12,
        "inter-service: no cap below 5000"
    );
}

#[actix_web::test]
async fn criteria_rules_differ_for_gateway_and_inter_service_calls() {
    let app = spawn_app().await;
    let id = app.create(employee("CRIT")).await["id"].as_i64().unwrap();
    let (status, body) = app
        .post_gateway("/user/_search", &json!({"id": [id]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "InvalidUserSearchCriteriaException");
    assert!(
        body["Errors"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Insufficient or invalid search criteria")
    );
    let (status, body) = app.post("/user/_search", &json!({"id": [id]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(body["user"].as_array().unwrap()), [id]);
    let (_, body) = app
        .post_gateway("/user/_search", &json!({"userName": "CRIT"}))
        .await;
    assert_eq!(
        first_code(&body),
        "InvalidUserSearchCriteriaException",
        "tenant needed with userName"
    );
    let (_, body) = app
        .post("/user/_search", &json!({"roleCodes": ["EMPLOYEE"]}))
        .await;
    assert_eq!(
        first_code(&body),
        "InvalidUserSearchCriteriaException",
        "tenant needed with roleCodes"
    );
    let (_, body) = app
        .post("/user/_search", &json!({"tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(first_code(&body), "InvalidUserSearchCriteriaException");
    let (status, _) = app
        .post_gateway("/user/_search", &json!({"uuid": ["not-a-uuid"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn sort_accepts_only_known_fields() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/user/_search",
            &json!({"userName": "x", "tenantId": "pb", "sort": ["name; DROP TABLE eg_user"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(first_code(&body), "InvalidUserSearchCriteriaException");
}

#[actix_web::test]
async fn role_codes_with_a_tenant_match_the_role_tenant() {
    let app = spawn_app().await;
    let mut gro = employee("GRO1");
    gro["roles"] = json!([{"code": "EMPLOYEE"}, {"code": "GRO", "tenantId": "pb"}]);
    let gro_id = app.create(gro).await["id"].as_i64().unwrap();
    app.create(employee("PLAIN1")).await;
    let found = app
        .search_v1(json!({"roleCodes": ["GRO", "DGRO"], "tenantId": "pb"}))
        .await;
    assert_eq!(
        ids(&found),
        [gro_id],
        "role tenant pb matches though the user lives in pb.amritsar"
    );
    assert!(
        app.search_v1(json!({"roleCodes": ["GRO"], "tenantId": "pb.amritsar"}))
            .await
            .is_empty()
    );
}

#[actix_web::test]
async fn mobile_matches_the_alternate_number_and_uuid_and_email_search() {
    let app = spawn_app().await;
    let mut user = employee("ALT");
    user["alternatemobilenumber"] = json!("9000000001");
    user["emailId"] = json!("Alt.User@Example.org");
    let created = app.create(user).await;
    let by_alt = app
        .search_v1(json!({"mobileNumber": "9000000001", "tenantId": "pb.amritsar"}))
        .await;
    assert_eq!(by_alt[0]["uuid"], created["uuid"]);
    let by_uuid = app.search_v1(json!({"uuid": [created["uuid"]]})).await;
    assert_eq!(by_uuid[0]["id"], created["id"]);
    let by_email = app
        .search_v1(json!({"emailId": "alt.user@example.org"}))
        .await;
    assert_eq!(by_email.len(), 1);
    assert!(
        app.search_v1(json!({"userName": "alt", "tenantId": "pb.amritsar"}))
            .await
            .is_empty(),
        "userName is case-sensitive"
    );
}

#[actix_web::test]
async fn citizen_searches_truncate_the_tenant_to_the_state() {
    let app = spawn_app().await;
    app.create(json!({"userName": "9123456789", "name": "Citizen", "mobileNumber": "9123456789", "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}))
        .await;
    let found = app
        .search_v1(
            json!({"mobileNumber": "9123456789", "tenantId": "pb.amritsar", "userType": "citizen"}),
        )
        .await;
    assert_eq!(found.len(), 1);
    assert!(
        app.search_v1(json!({"mobileNumber": "9123456789", "tenantId": "pb.amritsar"}))
            .await
            .is_empty()
    );
}
