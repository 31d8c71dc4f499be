//! How the service reads requests from a hostile client, over raw TCP: slow headers and bodies are cut off,
//! broken framing is a 400 in the endpoint's shape, and the pods' own endpoints keep the public body cap.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_at};

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
    let (status, body) = post("/cluster/partitions/_handover", big.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["Errors"][0]["code"], "PAYLOAD_TOO_LARGE", "{body}");
    for path in [
        "/cluster/partitions/_handover",
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
    // a pods' body with broken framing: a short body, an absurd length, a bad chunk size
    let short =
        b"POST /cluster/partitions/_handover HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nshort"
            .to_vec();
    let absurd = b"POST /cluster/partitions/_handover HTTP/1.1\r\nhost: x\r\ncontent-length: 18446744073709551615\r\n\r\nxx".to_vec();
    let chunked = b"POST /cluster/partitions/_handover HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nbad\r\n0\r\n\r\n".to_vec();
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
