//! Session administration (internal listener, `digit-user admin sessions`): a user's live sessions with when
//! and from where they were used, ending one or all of them — ended everywhere, audited, nothing in clear.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Via, employee, spawn_app};

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", app.internal))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

async fn end(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/sessions/_end?{query}", app.internal))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn an_operator_lists_a_user_s_sessions_and_ends_one_or_all() {
    let app = spawn_app().await;
    let mut user = employee("EMP-SESS");
    user["password"] = json!("Abcdef1@");
    let uuid = app.create(user).await["uuid"].as_str().unwrap().to_owned();
    let login = |ip: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .login_from(ip, "EMP-SESS", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let office = login("198.51.100.31").await;
    let phone = login("198.51.100.32").await;
    let (status, refreshed) = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", phone["refresh_token"].as_str().unwrap()),
            ],
            Via::Query,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    let (status, listed) = get(&app, &format!("/admin/sessions?user={uuid}")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{listed}");
    let (first, second) = (&sessions[0], &sessions[1]);
    assert_eq!(first["source"], "198.51.100.31", "oldest first: {listed}");
    assert_eq!(first["userAgent"], "digit-user-tests/1.0");
    assert_eq!(first["userType"], "EMPLOYEE");
    assert!(first.get("lastUsedAt").is_none(), "never refreshed");
    assert!(first["createdAt"].as_i64().unwrap() <= second["createdAt"].as_i64().unwrap());
    assert!(first["expiresAt"].as_i64().unwrap() > first["createdAt"].as_i64().unwrap());
    assert_eq!(
        second["source"], "127.0.0.1",
        "the refresh came from the test client itself"
    );
    assert!(second["lastUsedAt"].as_i64().unwrap() >= second["createdAt"].as_i64().unwrap());
    let answer = listed.to_string();
    for token in [&office, &phone, &refreshed]
        .iter()
        .flat_map(|t| [t["access_token"].as_str(), t["refresh_token"].as_str()])
        .flatten()
    {
        assert!(!answer.contains(token), "a token in the list");
    }
    // kept sealed: the addresses are nowhere in clear on disk
    assert!(
        actors::testing::contents(&app.store)
            .values()
            .all(|v| !String::from_utf8_lossy(v).contains("198.51.100.3")),
        "an address in clear"
    );

    // one ends: its tokens stop working, the other session's do not
    let office_id = first["id"].as_str().unwrap();
    let (status, body) = end(&app, &format!("user={uuid}&session={office_id}")).await;
    assert_eq!(
        (status, &body["ended"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );
    let office_access = office["access_token"].as_str().unwrap();
    assert_eq!(app.details(office_access).await.0, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", office["refresh_token"].as_str().unwrap()),
            ],
            Via::Query,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "its refresh token ended too"
    );
    let phone_access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(app.details(phone_access).await.0, StatusCode::OK);

    // what is not there, or not an id, is said so
    let (status, body) = end(&app, &format!("user={uuid}&session={office_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["Errors"][0]["code"], "SESSION_NOT_FOUND");
    let (status, body) = get(&app, "/admin/sessions?user=EMP-SESS").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let public = reqwest::Client::new()
        .get(format!("{}/admin/sessions?user={uuid}", app.public))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(public, StatusCode::NOT_FOUND, "internal listener only");

    // the command line lists what is left, then ends every session
    let lines: Vec<Value> = app
        .admin(&["sessions", "--user", &uuid])
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], second["id"]);
    let said = app.admin(&["sessions", "--user", &uuid, "--end-all"]).await;
    let said: Value = serde_json::from_str(&said.join("")).unwrap();
    assert_eq!(said["ended"], 1);
    assert_eq!(app.details(phone_access).await.0, StatusCode::BAD_REQUEST);
    let (_, listed) = get(&app, &format!("/admin/sessions?user={uuid}")).await;
    assert_eq!(listed["sessions"], json!([]));

    // both ends are in the user's audit trail
    for _ in 0..200 {
        let (_, trail) = get(
            &app,
            &format!("/admin/audit?user={uuid}&kind=token_revoked"),
        )
        .await;
        let reasons: Vec<&str> = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["reason"].as_str())
            .collect();
        if reasons == ["admin", "admin"] {
            return;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the ends are not in the audit trail");
}
