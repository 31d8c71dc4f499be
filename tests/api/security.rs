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
    // the tokens kept for the replays are on disk, but nothing there opens them without r0
    app.store.flush().unwrap();
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
async fn a_late_body_to_an_otp_endpoint_is_a_408_in_user_otps_shape() {
    let app = spawn_app_at(actors::Clock::System, |s| s.http.body_timeout_secs = 1).await;
    // with a correlation id the body is first read by the handler itself
    let head = b"POST /user-otp/v1/_send HTTP/1.1\r\nhost: x\r\nx-correlation-id: c-1\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"otp\"";
    let (answer, _) = raw(&app.public, head.to_vec(), false).await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    let body: Value =
        serde_json::from_str(&answer[answer.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(
        crate::helpers::e2_codes(&body),
        ["REQUEST_TIMEOUT"],
        "{body}"
    );
    assert_eq!(body["error"]["code"], 408);
}

#[actix_web::test]
async fn headers_dribbled_slower_than_the_header_timeout_are_cut_off() {
    let app = spawn_app_at(actors::Clock::System, |s| s.http.header_timeout_secs = 1).await;
    let (answer, took) = raw(
        &app.public,
        b"POST /user/_search HTTP/1.1\r\nhost: x\r\n".to_vec(),
        false,
    )
    .await;
    assert!(
        took < std::time::Duration::from_secs(4),
        "the server ended it, not the client: {took:?} {answer}"
    );
    assert!(answer.is_empty() || status_of(&answer) == 408, "{answer}");
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
        assert_eq!(
            status_of(&answer),
            400,
            "{what}: a client error, never a 500: {answer}"
        );
    }
}

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
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.notifications().len(), 1, "one SMS, not eleven");

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
        let store = digit_user::startup::open_store(&settings, &secrets).unwrap();
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
        actix_web::rt::System::new()
            .block_on(store.users().insert(&record))
            .unwrap();
        store.flush().unwrap();
    }
    {
        // earlier builds never marked their data dirs as normalised
        let db = sled::open(dir.path().join("db")).unwrap();
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
