//! Defects a hostile run found, each as the request that showed it: altered tokens, a refresh replayed
//! inside the grace window, caps escaped through forged client addresses, odd names, overlong fields, and
//! unauthenticated requests that wrote to disk (slow bodies and framing: `framing.rs`; tenant spellings:
//! `tenants.rs`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Via, employee, spawn_app, spawn_app_at};

/// `/user/oauth/token` refresh grant as the web UI sends it.
async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Via::Query,
    )
    .await
}

async fn employee_token(app: &TestApp, user_name: &str) -> Value {
    let mut e = employee(user_name);
    e["password"] = json!("Abcdef1@");
    app.create(e).await;
    let (status, login) = app
        .login(user_name, "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    login
}

/// `/user/_details` with the token put into the URL as given (not encoded again).
async fn details_raw(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/user/_details?access_token={token}", app.public))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn only_the_exact_token_issued_passes_details_even_after_it_was_verified() {
    let app = spawn_app().await;
    let token = employee_token(&app, "EMP-TOKEN-A").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = employee_token(&app, "EMP-TOKEN-B").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // verified once, so it sits in the verified-token cache
    assert_eq!(app.details(&token).await.0, StatusCode::OK);

    let parts: Vec<&str> = token.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"] = json!("00000000-0000-4000-8000-000000000001");
    let swapped = URL_SAFE_NO_PAD.encode(claims.to_string());
    let other_signature = other.rsplit('.').next().unwrap();
    for (what, forged) in [
        ("its signature alone", signature.to_owned()),
        ("alg none", format!("{none}.{payload}.{signature}")),
        ("another payload", format!("{header}.{swapped}.{signature}")),
        (
            "another signature",
            format!("{header}.{payload}.{other_signature}"),
        ),
        (
            "a space inside",
            format!("{header}%20.{payload}.{signature}"),
        ),
        (
            "a space inside the signature",
            format!(
                "{header}.{payload}.{}%20{}",
                &signature[..10],
                &signature[10..]
            ),
        ),
    ] {
        let (status, body) = details_raw(&app, &forged).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(
            body["Errors"][0]["code"], "InvalidAccessTokenException",
            "{what}"
        );
    }
    assert_eq!(
        app.details(&token).await.0,
        StatusCode::OK,
        "the token itself still works"
    );
}

#[actix_web::test]
async fn fifty_replays_of_a_refresh_token_inside_the_grace_window_get_its_successor_and_after_it_end_the_session()
 {
    let clock = actors::Clock::manual(actors::Clock::System.now_ms());
    // fifty replays from one address: past the per-address failure limit they would be refused unread
    let app = spawn_app_at(clock.clone(), |s| {
        s.login.max_failures_per_address = 1_000;
        s.login.max_failures_per_subnet = 1_000;
    })
    .await;
    let login = employee_token(&app, "EMP-REFRESH").await;
    let r0 = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, first) = refresh(&app, &r0).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (a1, r1) = (
        first["access_token"].as_str().unwrap().to_owned(),
        first["refresh_token"].as_str().unwrap().to_owned(),
    );

    clock.advance_ms(5_000);
    let replays = futures_util::future::join_all((0..50).map(|_| refresh(&app, &r0))).await;
    for (status, body) in &replays {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(
            (
                body["access_token"].as_str(),
                body["refresh_token"].as_str()
            ),
            (Some(a1.as_str()), Some(r1.as_str())),
            "the successor already issued, never a new chain"
        );
    }
    // the tokens kept for the replays are on disk, but nothing there opens them without r0
    app.store.flush().await.unwrap();
    for (path, _, _) in snapshot(&app.data_dir) {
        let bytes = std::fs::read(&path).unwrap();
        for secret in [&a1, &r1] {
            assert!(
                !bytes.windows(24).any(|w| w == &secret.as_bytes()[..24]),
                "a live token in clear in {}",
                path.display()
            );
        }
    }
    // the one chain goes on
    let (status, second) = refresh(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (a2, r2) = (
        second["access_token"].as_str().unwrap().to_owned(),
        second["refresh_token"].as_str().unwrap().to_owned(),
    );

    // past the window a replay is a theft signal: every replay refused, the session ended
    clock.advance_ms(6_000);
    let replays = futures_util::future::join_all((0..50).map(|_| refresh(&app, &r0))).await;
    for (status, body) in &replays {
        assert_eq!(
            (*status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{body}"
        );
    }
    assert_eq!(refresh(&app, &r2).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(app.details(&a2).await.0, StatusCode::BAD_REQUEST);
}

/// Every file under `dir` with its length and contents' hash.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64, u64)> {
    use std::hash::{Hash, Hasher};
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                out.push((path, bytes.len() as u64, h.finish()));
            }
        }
    }
    out.sort();
    out
}

#[actix_web::test]
async fn unauthenticated_requests_that_change_nothing_write_nothing() {
    let app = spawn_app().await;
    // one live code, then quiet: what start-up and that send wrote is on disk
    let code = app.otp_for("9555500000", "pb", "register", "citizen").await;
    assert_eq!(
        app.settled_notifications().await.len(),
        1,
        "its SMS delivered"
    );
    app.store.flush().await.unwrap();
    let db = app.data_dir.join("db");
    let before = snapshot(&db);

    // a validation storm for numbers that never had a code, and resends of the live one (held)
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let storm = (0..300).map(|i| {
        let app = &app;
        async move {
            if i % 10 == 0 {
                app.post(
                    "/user-otp/v1/_send",
                    &json!({"otp": {"mobileNumber": "9555500000", "tenantId": "pb", "type": "register"}}),
                )
                .await
                .0
            } else {
                app.validate_otp(&format!("96{i:08}"), "pb", wrong).await.0
            }
        }
    });
    for status in futures_util::future::join_all(storm).await {
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::CREATED,
            "{status}"
        );
    }
    // whatever the storm wrote is on disk after a flush
    assert_eq!(app.settled_notifications().await.len(), 1, "and no SMS");
    app.store.flush().await.unwrap();
    assert_eq!(snapshot(&db), before, "no write");
}

#[actix_web::test]
async fn names_with_control_bidi_or_invisible_characters_are_refused() {
    let app = spawn_app().await;
    for (field, value) in [
        ("userName", "EMP\u{0}1"),
        ("userName", "EMP\r\nX-Injected: 1"),
        ("userName", "\u{202E}NIMDA"),
        ("name", "Asha\u{2066}Devi"),
        ("name", "Asha\u{200B}Devi"),
    ] {
        let mut user = employee("EMP-ODD");
        user[field] = json!(value);
        let (status, body) = app.try_create(user).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {value:?}: {body}");
        assert_eq!(
            body["Errors"][0]["code"],
            format!("Pattern.createUserRequest.user.{field}"),
            "{body}"
        );
    }
    assert_eq!(
        app.try_create(employee("EMP-ODD")).await.0,
        StatusCode::OK,
        "the plain one is fine"
    );
}

async fn send_from(app: &TestApp, mobile: &str, headers: &[(&str, &str)]) -> StatusCode {
    app.post_with_headers(
        "/user-otp/v1/_send",
        &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}),
        headers,
    )
    .await
    .0
}

#[actix_web::test]
async fn a_client_rotating_forged_forwarding_headers_stays_under_its_cap() {
    use StatusCode as S;
    // four sends to four numbers, the n-th with the headers `forge(n)`: the statuses
    let rotate = |app: TestApp, forge: fn(u8) -> (String, String)| async move {
        let mut statuses = Vec::new();
        for n in 0..4u8 {
            let (forwarded_for, real_ip) = forge(n);
            let headers = [
                ("x-forwarded-for", forwarded_for.as_str()),
                ("x-real-ip", real_ip.as_str()),
            ];
            statuses.push(send_from(&app, &format!("97{n:08}"), &headers).await);
        }
        (statuses, app)
    };
    // behind a proxy of ours (loopback is one by default): the proxy appends the client it saw
    let app = spawn_app_at(actors::Clock::System, |s| {
        s.otp.max_sends_per_ip_per_hour = 2
    })
    .await;
    let behind_proxy = |n: u8| {
        (
            format!("198.51.100.{n}, 203.0.113.9"),
            format!("192.0.2.{n}"),
        )
    };
    let (statuses, app) = rotate(app, behind_proxy).await;
    assert_eq!(
        statuses,
        [
            S::CREATED,
            S::CREATED,
            S::TOO_MANY_REQUESTS,
            S::TOO_MANY_REQUESTS
        ]
    );
    // another client behind the same proxy has its own budget
    assert_eq!(
        send_from(&app, "9700000099", &[("x-forwarded-for", "203.0.113.10")]).await,
        S::CREATED
    );

    // straight from an address that is no proxy of ours: its headers name nobody
    let app = spawn_app_at(actors::Clock::System, |s| {
        s.otp.max_sends_per_ip_per_hour = 2;
        s.http.trusted_proxies = Vec::new();
    })
    .await;
    let direct = |n: u8| (format!("198.51.100.{n}"), format!("198.51.100.{n}"));
    let (statuses, _) = rotate(app, direct).await;
    assert_eq!(
        statuses,
        [
            S::CREATED,
            S::CREATED,
            S::TOO_MANY_REQUESTS,
            S::TOO_MANY_REQUESTS
        ]
    );
}

#[actix_web::test]
async fn every_string_field_is_bounded_in_each_endpoint_s_shape() {
    let app = spawn_app().await;
    let long = "9".repeat(5000);
    let (status, body) = app
        .post(
            "/user-otp/v1/_send",
            &json!({"otp": {"mobileNumber": long, "tenantId": "pb", "type": "passwordreset"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        crate::helpers::e2_codes(&body),
        ["FIELD_TOO_LONG"],
        "{body}"
    );
    assert!(
        body["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("otp.mobilenumber is longer than 4096")
    );
    let (status, body) = app
        .post(
            "/user/_search",
            &json!({"tenantId": "pb", "mobileNumber": long}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["Errors"][0]["code"], "FIELD_TOO_LONG", "{body}");
    let (status, body) = app
        .token(
            &[
                ("grant_type", "password"),
                ("username", &long),
                ("password", "x"),
                ("tenantId", "pb"),
                ("userType", "EMPLOYEE"),
            ],
            Via::Form,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    assert_eq!(
        body["error_description"], "a parameter is longer than 4096 characters",
        "refused for its length, not as a failed login"
    );
    let (status, body) = details_raw(&app, &"a".repeat(5000)).await;
    assert_eq!(
        (status, body["Errors"][0]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidAccessTokenException"))
    );
}

#[actix_web::test]
async fn twenty_tabs_refreshing_one_live_token_at_once_get_one_answer() {
    let app = spawn_app().await;
    let login = employee_token(&app, "EMP-TABS").await;
    let r0 = login["refresh_token"].as_str().unwrap().to_owned();
    let answers = futures_util::future::join_all((0..20).map(|_| refresh(&app, &r0))).await;
    let first = &answers[0].1;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["access_token"], &body["refresh_token"]),
            (&first["access_token"], &first["refresh_token"])
        );
    }
    let (status, _) = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "and that one chain goes on");
}
