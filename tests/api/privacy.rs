//! Role-based visibility of PII in searches (`config/privacy.toml`, DIGIT's DataSecurity defaults): each role
//! sees what the shipped policy says, a user their own record in clear, a plain-access request one record's
//! fields; an update that sends a masked search back keeps the stored values.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const MOBILE: &str = "9123500011";

async fn citizen(app: &TestApp) -> Value {
    app.create(
        json!({"userName": MOBILE, "name": "Asha Devi", "mobileNumber": MOBILE, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}],
                      "emailId": "asha@example.org", "fatherOrHusbandName": "Ram Lal",
                      "permanentAddress": "H 12, Sector 5", "permanentCity": "Amritsar",
                      "correspondenceAddress": "Ward 3"}),
    )
    .await
}

fn info(uuid: &str, user_type: &str, roles: &[&str]) -> Value {
    let roles: Vec<Value> = roles
        .iter()
        .map(|r| json!({"code": r, "tenantId": "pb"}))
        .collect();
    json!({"userInfo": {"id": 7, "uuid": uuid, "type": user_type, "roles": roles}})
}

/// The one user a search by mobile number finds, as `request_info`'s caller sees it.
async fn seen_by(app: &TestApp, request_info: Value) -> Value {
    let (status, body) = app
        .post(
            "/user/_search",
            &json!({"RequestInfo": request_info, "mobileNumber": MOBILE, "tenantId": "pb"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"].as_array().map(Vec::len), Some(1), "{body}");
    body["user"][0].clone()
}

fn pii(u: &Value) -> Vec<String> {
    [
        "name",
        "mobileNumber",
        "userName",
        "emailId",
        "fatherOrHusbandName",
        "permanentAddress",
        "correspondenceAddress",
        "permanentCity",
    ]
    .iter()
    .map(|k| u[k].as_str().unwrap_or("null").to_owned())
    .collect()
}

const CLEAR: [&str; 8] = [
    "Asha Devi",
    MOBILE,
    MOBILE,
    "asha@example.org",
    "Ram Lal",
    "H 12, Sector 5",
    "Ward 3",
    "Amritsar",
];

#[actix_web::test]
async fn each_role_sees_what_the_shipped_policy_says() {
    let app = spawn_app().await;
    let created = citizen(&app).await;
    let employee = "eeeeeeee-0000-4000-8000-000000000001";
    // GRO and PGR_LME: name, number, userName and permanent address masked; the rest in clear
    let masked = [
        "A*** D***",
        "******0011",
        "9*********",
        "asha@example.org",
        "Ram Lal",
        "**************",
        "Ward 3",
        "Amritsar",
    ];
    for role in ["GRO", "PGR_LME"] {
        let u = seen_by(&app, info(employee, "EMPLOYEE", &["EMPLOYEE", role])).await;
        assert_eq!(pii(&u), masked, "{role}");
    }
    // water and sewerage staff: the name in clear, the contact details masked
    let u = seen_by(&app, info(employee, "EMPLOYEE", &["WS_CLERK"])).await;
    assert_eq!(
        pii(&u),
        [
            "Asha Devi",
            "******0011",
            MOBILE,
            "a***@e*********g",
            "R** L**",
            "**************",
            "******",
            "Amritsar"
        ]
    );
    // an HRMS employee, a superuser, no userInfo at all (DIGIT's default: an EMPLOYEE), a GRO that is also an
    // internal service: everything in clear
    for (who, request_info) in [
        (
            "hrms",
            info(employee, "EMPLOYEE", &["EMPLOYEE", "HRMS_ADMIN"]),
        ),
        ("superuser", info(employee, "EMPLOYEE", &["SUPERUSER"])),
        ("no userInfo", json!({})),
        (
            "gro + internal",
            info(employee, "EMPLOYEE", &["GRO", "INTERNAL_MICROSERVICE_ROLE"]),
        ),
    ] {
        assert_eq!(pii(&seen_by(&app, request_info).await), CLEAR, "{who}");
    }
    // the citizen, even holding a masked role, sees their own record in clear
    let own = info(
        created["uuid"].as_str().unwrap(),
        "CITIZEN",
        &["CITIZEN", "GRO"],
    );
    assert_eq!(pii(&seen_by(&app, own).await), CLEAR);
}

#[actix_web::test]
async fn a_plain_access_request_shows_one_record_s_asked_fields_and_is_counted() {
    let app = spawn_app().await;
    let created = citizen(&app).await;
    let mut request_info = info("eeeeeeee-0000-4000-8000-000000000002", "EMPLOYEE", &["GRO"]);
    request_info["plainAccessRequest"] =
        json!({"recordId": created["uuid"], "plainRequestFields": ["mobileNumber", "emailId"]});
    let u = seen_by(&app, request_info).await;
    assert_eq!(
        u["mobileNumber"], MOBILE,
        "asked and masked for a GRO: in clear"
    );
    assert_eq!(u["name"], "A*** D***", "not asked");
    // counted (the counters are the process's: other tests may count too) and in the user's audit trail,
    // the mobile number alone (a GRO sees the e-mail anyway: no plain access)
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"digit_user_plain_access_total{field="mobileNumber"}"#),
        "{metrics}"
    );
    let uuid = created["uuid"].as_str().unwrap();
    let mut trail = Value::Null;
    for _ in 0..200 {
        trail = reqwest::Client::new()
            .get(format!(
                "{}/admin/audit?user={uuid}&kind=plain_access",
                app.internal
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if trail["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        (&trail["events"][0]["actor"], &trail["events"][0]["fields"]),
        (
            &json!("eeeeeeee-0000-4000-8000-000000000002"),
            &json!(["mobileNumber"])
        ),
        "{trail}"
    );
}

#[actix_web::test]
async fn with_abac_off_everyone_sees_everything_in_clear() {
    let app = spawn_app_with(|s| s.privacy.abac_enabled = false).await;
    citizen(&app).await;
    let gro = info("eeeeeeee-0000-4000-8000-000000000003", "EMPLOYEE", &["GRO"]);
    assert_eq!(pii(&seen_by(&app, gro).await), CLEAR);
}

#[actix_web::test]
async fn a_masked_search_sent_back_as_an_update_keeps_what_was_masked() {
    let app = spawn_app().await;
    let created = citizen(&app).await;
    let gro = info("eeeeeeee-0000-4000-8000-000000000004", "EMPLOYEE", &["GRO"]);
    // the search found the user by the number it then showed masked
    let mut edited = seen_by(&app, gro.clone()).await;
    assert_eq!(edited["mobileNumber"], "******0011");
    edited["emailId"] = json!("asha.devi@example.org");
    edited["roles"] = json!([{"code": "CITIZEN"}]);
    let (status, body) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": gro, "user": edited}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["user"][0]["mobileNumber"], MOBILE,
        "an update's answer is in clear"
    );
    let mut expected = CLEAR;
    expected[3] = "asha.devi@example.org";
    assert_eq!(pii(&seen_by(&app, json!({})).await), expected);
    assert_eq!(created["uuid"], body["user"][0]["uuid"]);
}
