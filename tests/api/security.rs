//! Defects a hostile run found, each as the request that showed it: altered tokens, a refresh replayed
//! inside the grace window, caps escaped through `tenantId` or forged client addresses, slow bodies, odd
//! names, and unauthenticated requests that wrote to disk.

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
    let app = spawn_app_at(clock.clone(), |_| {}).await;
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
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1500)).await;
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
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(snapshot(&db), before, "no write, no flush");
    assert_eq!(app.notifications().len(), 1, "and no SMS");
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
    // behind a proxy of ours (loopback is one by default): the proxy appends the client it saw
    let app = spawn_app_at(actors::Clock::System, |s| {
        s.otp.max_sends_per_ip_per_hour = 2
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let forged = format!("198.51.100.{n}, 203.0.113.9");
        let real_ip = format!("192.0.2.{n}");
        statuses.push(
            send_from(
                &app,
                &format!("97000000{n:02}"),
                &[("x-forwarded-for", &forged), ("x-real-ip", &real_ip)],
            )
            .await,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // another client behind the same proxy has its own budget
    assert_eq!(
        send_from(&app, "9700000099", &[("x-forwarded-for", "203.0.113.10")]).await,
        StatusCode::CREATED
    );

    // straight from an address that is no proxy of ours: its headers name nobody
    let app = spawn_app_at(actors::Clock::System, |s| {
        s.otp.max_sends_per_ip_per_hour = 2;
        s.http.trusted_proxies = Vec::new();
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let forged = format!("198.51.100.{n}");
        statuses.push(
            send_from(
                &app,
                &format!("97100000{n:02}"),
                &[("x-forwarded-for", &forged), ("x-real-ip", &forged)],
            )
            .await,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

/// Sends `request` as raw bytes to `addr` (`http://host:port`), optionally closing the sending side, and
/// returns what the server answered within a few seconds (on a blocking thread).
async fn raw(addr: &str, request: Vec<u8>, close_send: bool) -> (String, std::time::Duration) {
    let addr = addr.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let started = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(8)))
            .unwrap();
        s.write_all(&request).unwrap();
        if close_send {
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_body_dribbled_slower_than_the_body_timeout_is_cut_off() {
    let app = spawn_app_at(actors::Clock::System, |s| s.http.body_timeout_secs = 1).await;
    let head = b"POST /user/_search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"tenantId\"";
    let (answer, took) = raw(&app.public, head.to_vec(), false).await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(
        answer.contains("REQUEST_TIMEOUT"),
        "in DIGIT's shape: {answer}"
    );
    assert!(
        took < std::time::Duration::from_secs(4),
        "answered after the timeout, not when the client gave up: {took:?}"
    );
}

#[actix_web::test]
async fn the_pods_endpoints_keep_the_body_cap_and_answer_bad_bodies_with_400_in_digits_shape() {
    let app = spawn_app().await;
    let post = |path: &str, body: Vec<u8>| {
        let url = format!("{}{path}", app.internal);
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (
                resp.status(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let big = format!(r#"{{"partitions": [{}1]}}"#, "1,".repeat(1 << 20));
    let (status, body) = post("/cluster/partitions/_freeze", big.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["Errors"][0]["code"], "PAYLOAD_TOO_LARGE", "{body}");
    for path in [
        "/cluster/map",
        "/cluster/revocations",
        "/cluster/users/_search",
        "/cluster/otp/_validate",
        "/cluster/otp/_send",
    ] {
        let (status, body) = post(path, b"{\"partitions\": [".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            body["Errors"][0]["code"], "JsonParseException",
            "{path}: {body}"
        );
    }
    // a bundle import with broken framing: a short body, an absurd length, a bad chunk size
    let short =
        b"POST /cluster/partitions/_import HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nshort"
            .to_vec();
    let absurd = b"POST /cluster/partitions/_import HTTP/1.1\r\nhost: x\r\ncontent-length: 18446744073709551615\r\n\r\nxx".to_vec();
    let chunked = b"POST /cluster/partitions/_import HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nbad\r\n0\r\n\r\n".to_vec();
    for (what, request) in [
        ("short", short),
        ("absurd length", absurd),
        ("bad chunk", chunked),
    ] {
        let (answer, _) = raw(&app.internal, request, true).await;
        let status = status_of(&answer);
        assert!(
            (400..500).contains(&status),
            "{what}: a client error, never a 500: {answer}"
        );
    }
}
