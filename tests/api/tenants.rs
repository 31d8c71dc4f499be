//! Tenants as a hostile run spelled them: every spelling of a state is one tenant (one session, one set of
//! caps, one user), made-up states are refused where they would create something, and records an earlier build
//! stored under another spelling are found after an upgrade.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{employee, spawn_app};

#[actix_web::test]
async fn spellings_of_a_tenant_share_one_number_s_limits_and_made_up_tenants_are_refused() {
    let app = spawn_app().await;
    let send = |tenant: String| {
        let app = &app;
        async move {
            app.post(
                "/user-otp/v1/_send",
                &json!({"otp": {"mobileNumber": "9444400000", "tenantId": tenant, "type": "register"}}),
            )
            .await
        }
    };
    // the hostile run's requests: one number, the state spelled three ways and eight made-up tenants
    let mut tenants: Vec<String> = ["pb", "PB", "Pb", " pb "]
        .iter()
        .map(|t| t.to_string())
        .collect();
    tenants.extend(
        ["zz", "yy", "xx", "ww", "vv", "uu", "tt", "ss"]
            .iter()
            .map(|t| t.to_string()),
    );
    tenants.push("p".repeat(60_000));
    let mut refused = 0;
    for tenant in tenants {
        let (status, body) = send(tenant.clone()).await;
        match status {
            StatusCode::CREATED => assert!(tenant.trim().eq_ignore_ascii_case("pb"), "{tenant}"),
            StatusCode::BAD_REQUEST => {
                refused += 1;
                let expected = if tenant.len() > 4096 {
                    "FIELD_TOO_LONG"
                } else {
                    "OTP.TENANT_ID_UNKNOWN"
                };
                assert_eq!(crate::helpers::e2_codes(&body), [expected], "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(refused, 9);
    assert_eq!(
        app.settled_notifications().await.len(),
        1,
        "one SMS, not eleven"
    );

    // egov-otp's endpoints refuse a made-up tenant too
    let (status, body) = app.validate_otp("9444400000", "zz", "123456").await;
    assert_eq!(
        (status, crate::helpers::e2_codes(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["OTP.TENANT_ID_UNKNOWN".to_owned()]
        )
    );
    let (status, body) = app
        .post_internal(
            "/otp/v1/_create",
            &json!({"otp": {"identity": "9444400001", "tenantId": "yy"}}),
        )
        .await;
    assert_eq!(
        (status, crate::helpers::e2_codes(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["OTP.TENANT_ID_UNKNOWN".to_owned()]
        )
    );

    // users: a made-up state is refused, another spelling of the state is the state
    let mut stranger = employee("EMP-STRANGER");
    stranger["tenantId"] = json!("zz.nowhere");
    let (status, body) = app.try_create(stranger).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["Errors"][0]["code"], "TENANT_UNKNOWN", "{body}");
    let mut shouted = employee("EMP-SHOUTED");
    shouted["tenantId"] = json!("PB.Amritsar");
    let created = app.create(shouted).await;
    assert_eq!(created["tenantId"], "pb.amritsar");
    let found = app
        .search_v1(json!({"userName": "EMP-SHOUTED", "tenantId": "Pb.AMRITSAR"}))
        .await;
    assert_eq!(found.len(), 1);
}

#[test]
fn users_an_earlier_build_stored_under_another_spelling_are_found_after_an_upgrade() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    // a data dir with its secrets, as a first start leaves it
    drop(crate::helpers::Process::start(dir.path(), &HashMap::new()).unwrap());
    {
        // what an earlier build wrote for a request that said "PB.Amritsar"
        let settings = crate::helpers::test_settings(dir.path());
        let secrets = digit_user::secrets::Secrets::load_or_generate(
            dir.path(),
            &digit_user::config::MapEnv::default(),
            false,
        )
        .unwrap();
        let store =
            actors::store::Store::open(&settings.store_options(), secrets.store_keys()).unwrap();
        let legacy: actors::domain::TenantId = serde_json::from_str("\"PB.Amritsar\"").unwrap();
        let tenant = actors::domain::TenantId::parse("pb.amritsar").unwrap();
        let (id, uuid) = store.users().mint_ids(&tenant, "EMP-LEGACY").unwrap();
        let hash = bcrypt::hash("Legacy@123", 4).unwrap();
        let record: actors::domain::UserRecord = serde_json::from_value(json!({
            "id": id, "uuid": uuid, "tenant_id": legacy, "user_type": "EMPLOYEE", "user_name": "EMP-LEGACY",
            "password_hash": hash, "salutation": null, "name": "Asha", "gender": null,
            "mobile_number": "9876543210", "country_code": "+91", "alt_mobile_number": null, "email_id": null,
            "alt_contact_number": null, "pan": null, "aadhaar_number": null, "permanent_address": null,
            "correspondence_address": null, "active": true, "locale": null, "account_locked": false,
            "account_locked_date": null, "guardian": null, "relationship": null, "signature": null,
            "blood_group": null, "photo": null, "identification_mark": null, "created_by": null,
            "last_modified_by": null, "created_date": 1, "last_modified_date": 1, "dob": null,
            "pwd_expiry_date": 2,
            "roles": [{"code": "EMPLOYEE", "name": "Employee", "tenant_id": legacy}]
        }))
        .unwrap();
        actix_web::rt::System::new().block_on(async {
            store.users().insert(&record).await.unwrap();
            store.flush().await.unwrap();
        });
    }
    {
        // earlier builds never marked their data dirs as normalised
        let db = crate::helpers::raw_sled(dir.path());
        db.open_tree("meta")
            .unwrap()
            .remove("tenants_normalised")
            .unwrap()
            .expect("this build marked the fresh data dir");
        db.flush().unwrap();
    }
    let app = crate::helpers::Process::start(dir.path(), &HashMap::new()).unwrap();
    let client = reqwest::blocking::Client::new();
    let login = client
        .post(format!("{}/user/oauth/token", app.base))
        .basic_auth("egov-user-client", Some(""))
        .form(&[
            ("grant_type", "password"),
            ("username", "EMP-LEGACY"),
            ("password", "Legacy@123"),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
            ("scope", "read"),
        ])
        .send()
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let found: Value = client
        .post(format!("{}/user/v1/_search", app.base))
        .json(&json!({"tenantId": "pb.amritsar", "roleCodes": ["EMPLOYEE"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found["user"][0]["userName"], "EMP-LEGACY", "{found}");
    assert_eq!(found["user"][0]["tenantId"], "pb.amritsar");
}
