//! The audit trail: every kind of event a user's actions leave, readable by `GET /admin/audit`, with no
//! personal data, password or token in the answer or on disk; pruned by age.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const MOBILE: &str = "9123600001";
const ADMIN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const GRO: &str = "aaaaaaaa-0000-4000-8000-000000000002";

/// `GET /admin/audit?user=<uuid><query>`'s answer.
async fn read(app: &TestApp, uuid: &str, query: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/admin/audit?user={uuid}{query}", app.internal))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The trail of `uuid` once it holds `at_least` events (they are written off the request path).
async fn trail(app: &TestApp, uuid: &str, query: &str, at_least: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let body = read(app, uuid, query).await;
        if body["events"].as_array().map_or(0, Vec::len) >= at_least {
            return body;
        }
        last = body;
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the trail of {uuid} never held {at_least} events: {last}");
}

#[actix_web::test]
async fn every_action_leaves_an_event_without_a_value_and_old_ones_are_pruned() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/user/users/_createnovalidate",
            &json!({"RequestInfo": {"userInfo": {"uuid": ADMIN, "roles": [{"code": "SUPERUSER"}]}},
                    "user": {"userName": "EMP-AUDIT", "name": "Asha Devi", "mobileNumber": MOBILE,
                             "password": "Asha@12345", "type": "EMPLOYEE", "tenantId": "pb.amritsar",
                             "active": true, "roles": [{"code": "EMPLOYEE"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let uuid = body["user"][0]["uuid"].as_str().unwrap().to_owned();
    let home = "198.51.100.9";
    let (status, tokens) = app
        .login_from(home, "EMP-AUDIT", "Asha@12345", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK);
    trail(&app, &uuid, "", 2).await;
    app.login_from(home, "EMP-AUDIT", "Wrong@12345", "pb.amritsar", "EMPLOYEE")
        .await;
    trail(&app, &uuid, "", 3).await;
    let (status, _) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": {"userInfo": {"uuid": ADMIN, "roles": [{"code": "SUPERUSER"}]}},
                    "user": {"uuid": uuid, "tenantId": "pb.amritsar", "emailId": "asha@example.org",
                             "roles": [{"code": "EMPLOYEE"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    trail(&app, &uuid, "", 4).await;
    let (status, _) = app
        .post(
            "/user/_search",
            &json!({"RequestInfo": {"userInfo": {"uuid": GRO, "type": "EMPLOYEE", "roles": [{"code": "GRO"}]},
                                    "plainAccessRequest": {"recordId": uuid, "plainRequestFields": ["mobileNumber"]}},
                    "uuid": [uuid], "tenantId": "pb.amritsar"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let body = trail(&app, &uuid, "", 5).await;
    let events = body["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "user_created",
            "login_succeeded",
            "login_failed",
            "user_updated",
            "plain_access"
        ]
    );
    assert_eq!(events[0]["actor"], ADMIN);
    assert!(
        events[0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "mobileNumber"),
        "{}",
        events[0]
    );
    assert_eq!(events[1]["grant"], "password");
    assert_eq!(events[1]["source"], home);
    assert_eq!(events[1]["userAgent"], "digit-user-tests/1.0");
    assert_eq!(events[3]["fields"], json!(["emailId"]));
    assert_eq!(events[4]["actor"], GRO);
    assert_eq!(events[4]["fields"], json!(["mobileNumber"]));
    // no value of the user, no password, no token: not in the answer, not on disk
    let answer = body.to_string();
    let stored: Vec<String> = actors::testing::contents(&app.store)
        .into_iter()
        .filter(|((tree, key), _)| {
            *tree == actors::store::TreeId::UserAudit as u8 && key.first() == Some(&0xFF)
        })
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .collect();
    assert_eq!(stored.len(), 5);
    assert!(
        !actors::testing::contents(&app.store)
            .into_iter()
            .any(
                |((tree, key), _)| tree == actors::store::TreeId::UserAudit as u8
                    && key.first() == Some(&0xFE)
            ),
        "the SIEM feed is off by default: nothing queued for it"
    );
    let access = tokens["access_token"].as_str().unwrap();
    for secret in [MOBILE, "Asha", "asha@example.org", "Wrong@12345", access] {
        assert!(!answer.contains(secret), "{secret} in {answer}");
        assert!(
            stored.iter().all(|v| !v.contains(secret)),
            "{secret} stored"
        );
    }
    assert!(stored.iter().all(|v| !v.contains("login_failed")), "sealed");

    // filters and pages
    let failed = trail(&app, &uuid, "&kind=login_failed,locked", 1).await;
    assert_eq!(failed["events"].as_array().unwrap().len(), 1);
    let page = trail(&app, &uuid, "&offset=1&limit=2", 1).await;
    assert_eq!(page["events"][0]["kind"], "login_succeeded");
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let status = reqwest::Client::new()
        .get(format!("{}/admin/audit?user=nobody", app.internal))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let public = reqwest::Client::new()
        .get(format!("{}/admin/audit?user={uuid}", app.public))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(public, StatusCode::NOT_FOUND, "internal listener only");

    // the command line prints the same, one event a line
    let lines: Vec<Value> = app
        .admin(&[
            "audit",
            "--user",
            &uuid,
            "--kind",
            "login_failed,plain_access",
        ])
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![events[2].clone(), events[4].clone()]);

    // pruning forgets what is older than the retention
    let later = events[4]["at"].as_i64().unwrap() + 1;
    assert_eq!(app.store.audit().prune(later).await.unwrap(), 5);
    assert_eq!(read(&app, &uuid, "").await["events"], json!([]));
}

#[actix_web::test]
async fn a_citizen_s_codes_logins_and_logout_are_in_the_trail() {
    let app = spawn_app().await;
    let mobile = "9123600002";
    let created = app
        .create(
            json!({"userName": mobile, "name": "Citizen", "mobileNumber": mobile, "type": "CITIZEN",
                       "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}),
        )
        .await;
    let uuid = created["uuid"].as_str().unwrap().to_owned();
    let code = app.otp_for(mobile, "pb", "login", "CITIZEN").await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    let (status, _) = app
        .login_from("198.51.100.10", mobile, wrong, "pb", "CITIZEN")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, tokens) = app
        .login_from("198.51.100.10", mobile, &code, "pb", "CITIZEN")
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, _) = app
        .post(
            "/user/_logout",
            &json!({"access_token": tokens["access_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let body = trail(&app, &uuid, "", 7).await;
    let mut seen: Vec<String> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let detail = match e["kind"].as_str().unwrap() {
                "otp_sent" => format!("{}/{}", e["purpose"], e["result"]),
                "otp_validated" => format!("{}/{}", e["purpose"], e["valid"]),
                "token_revoked" => e["reason"].to_string(),
                _ => String::new(),
            };
            format!("{} {detail}", e["kind"].as_str().unwrap())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "login_failed ",
            "login_succeeded ",
            "otp_sent \"login\"/\"sent\"",
            "otp_validated \"login\"/false",
            "otp_validated \"login\"/true",
            "token_revoked \"logout\"",
            "user_created ",
        ]
    );
    assert!(!body.to_string().contains(&code), "never the code");
}

#[actix_web::test]
async fn an_unlock_by_the_cool_down_and_a_reused_refresh_token_are_in_the_trail() {
    let clock = actors::Clock::manual(actors::Clock::System.now_ms());
    let app = crate::helpers::spawn_app_at(clock.clone(), |s| {
        s.lockout.max_invalid_attempts = 2;
    })
    .await;
    let mut user = crate::helpers::employee("EMP-COOL");
    user["password"] = json!("Abcdef1@");
    let uuid = app.create(user).await["uuid"].as_str().unwrap().to_owned();
    let (status, login) = app
        .login("EMP-COOL", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let spent = login["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.token(
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                crate::helpers::Via::Query,
            )
            .await
            .0
        }
    };
    assert_eq!(refresh(spent.clone()).await, StatusCode::OK);
    clock.advance_ms(60_000);
    assert_eq!(
        refresh(spent).await,
        StatusCode::BAD_REQUEST,
        "a spent token, past the grace window"
    );
    let revoked = trail(&app, &uuid, "&kind=token_revoked", 1).await;
    assert_eq!(revoked["events"][0]["reason"], "reuse", "{revoked}");
    assert_eq!(revoked["events"][0]["tokens"], 1);

    // a login first: the lockout counts failures from an address the user logs in from (its memory of
    // addresses ended with the idle actor when the clock jumped)
    let (status, _) = app
        .login("EMP-COOL", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        app.login("EMP-COOL", "Wrong1@pw", "pb.amritsar", "EMPLOYEE")
            .await;
    }
    trail(&app, &uuid, "&kind=locked", 1).await;
    assert_eq!(
        read(&app, &uuid, "&kind=unlocked").await["events"],
        json!([]),
        "locked, not yet unlocked"
    );
    // the lock's own timer ends it: no login attempt comes
    clock.advance_ms(24 * 60 * 60_000);
    let unlocked = trail(&app, &uuid, "&kind=unlocked", 1).await;
    assert_eq!(unlocked["events"][0]["reason"], "cooldown", "{unlocked}");
    assert!(
        unlocked["events"][0].get("actor").is_none(),
        "nobody did it"
    );

    // the user changes the password; locked again, an admin unlocks
    let (_, session) = app
        .login("EMP-COOL", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    let (status, body) = app
        .post(
            "/user/password/_update",
            &json!({"RequestInfo": {"authToken": session["access_token"], "userInfo": {"userName": "EMP-COOL"}},
                    "existingPassword": "Abcdef1@", "newPassword": "Newpass1@", "tenantId": "pb.amritsar",
                    "type": "EMPLOYEE"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changed = trail(&app, &uuid, "&kind=password_changed", 1).await;
    assert_eq!(changed["events"][0]["reset"], false, "{changed}");
    for _ in 0..2 {
        app.login("EMP-COOL", "Wrong1@pw", "pb.amritsar", "EMPLOYEE")
            .await;
    }
    trail(&app, &uuid, "&kind=locked", 2).await;
    let mut record = app
        .search_v1(json!({"userName": "EMP-COOL", "tenantId": "pb.amritsar"}))
        .await[0]
        .clone();
    record["accountLocked"] = json!(false);
    let (status, body) = app
        .post(
            "/user/users/_updatenovalidate",
            &json!({"RequestInfo": {"userInfo": {"uuid": ADMIN, "roles": [{"code": "SUPERUSER"}]}},
                    "user": record}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unlocks = trail(&app, &uuid, "&kind=unlocked", 2).await;
    assert_eq!(unlocks["events"][1]["reason"], "admin", "{unlocks}");
    assert_eq!(unlocks["events"][1]["actor"], ADMIN);
    let all = read(&app, &uuid, "").await.to_string();
    for secret in ["Abcdef1@", "Newpass1@", "Wrong1@pw"] {
        assert!(!all.contains(secret), "{secret} in the trail");
    }
}
