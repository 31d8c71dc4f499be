//! `/user-otp/v1/_send`'s limits as clients meet them: resends held inside the cooldown, a new code refused
//! with the message every screen shows, the per-IP cap, test numbers and a full outbox.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{e2_codes, otp_in, spawn_app, spawn_app_with};
use crate::otp_send::{send, send_body};

#[actix_web::test]
async fn a_resend_in_the_cooldown_succeeds_and_sends_nothing() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let (status, body) = send(&app, "9000000009", "pb", None, None).await;
        assert_eq!(
            (status, &body),
            (
                StatusCode::CREATED,
                &json!({"responseInfo": null, "isSuccessful": true})
            )
        );
    }
    let code = otp_in(
        app.wait_notifications(1).await[0]["payload"]["message"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        app.settled_notifications().await.len(),
        1,
        "the resends inside the cooldown queued nothing"
    );
    assert_eq!(
        app.validate_otp("9000000009", "pb", &code).await.0,
        StatusCode::OK,
        "the first code still works"
    );
}

#[actix_web::test]
async fn a_new_code_inside_the_cooldown_is_429_with_retry_after_and_a_message_every_screen_shows() {
    let app = spawn_app().await;
    let code = app.otp_for("9000000010", "pb", "register", "citizen").await;
    assert_eq!(
        app.validate_otp("9000000010", "pb", &code).await.0,
        StatusCode::OK
    );
    // the code is spent: another needs a new SMS, which the cooldown does not allow yet
    let (status, headers, body) = app
        .post_with_headers(
            "/user-otp/v1/_send",
            &send_body("9000000010", "pb", None, None),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(e2_codes(&body), ["OTP.RATE_LIMITED"]);
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("Too many OTP requests. Please try again after ")
            && description.ends_with(" seconds."),
        "{description}"
    );
    assert_eq!(
        app.settled_notifications().await.len(),
        1,
        "the refused send queued nothing"
    );
}

#[actix_web::test]
async fn the_per_ip_cap_counts_the_forwarded_client() {
    let clock = actors::Clock::manual(1_764_000_000_000);
    let app =
        crate::helpers::spawn_app_at(clock.clone(), |s| s.otp.max_sends_per_ip_per_hour = 2).await;
    let from = |ip: &'static str| [("x-real-ip", ip)];
    for mobile in ["9100000001", "9100000002"] {
        let (status, _, _) = app
            .post_with_headers(
                "/user-otp/v1/_send",
                &send_body(mobile, "pb", None, None),
                &from("203.0.113.9"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, headers, body) = app
        .post_with_headers(
            "/user-otp/v1/_send",
            &send_body("9100000003", "pb", None, None),
            &from("203.0.113.9"),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert!(
        body["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("from this client")
    );
    assert_eq!(
        body["error_description"],
        "Too many OTP requests. Please try again after 60 minutes."
    );
    // past the number's cooldown, a resend of a live code from that client is held, not refused
    clock.advance_ms(31_000);
    let (status, _, body) = app
        .post_with_headers(
            "/user-otp/v1/_send",
            &send_body("9100000001", "pb", None, None),
            &from("203.0.113.9"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let delivered = app.wait_notifications(2).await;
    assert_eq!(
        app.settled_notifications().await.len(),
        delivered.len(),
        "held: no SMS"
    );
    let code = otp_in(delivered[0]["payload"]["message"].as_str().unwrap());
    assert_eq!(
        app.validate_otp("9100000001", "pb", &code).await.0,
        StatusCode::OK
    );
    let (status, _, _) = app
        .post_with_headers(
            "/user-otp/v1/_send",
            &send_body("9100000003", "pb", None, None),
            &from("203.0.113.10"),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another client is not affected"
    );
}

#[actix_web::test]
async fn a_prefix_flood_is_throttled_while_other_prefixes_and_test_numbers_pass() {
    let app = spawn_app_with(|s| {
        s.otp.max_sends_per_prefix = 3;
        s.otp.test_numbers = vec![digit_user::config::TestNumber {
            tenant: "pb".into(),
            mobile: "9876540999".into(),
            code: "246810".into(),
            until: "2999-12-31".into(),
        }];
    })
    .await;
    // a pumping client walks the range 9876540000-9876540999, from many addresses
    for (i, mobile) in ["9876540001", "9876540002", "9876540003"]
        .iter()
        .enumerate()
    {
        let ip = format!("198.51.100.{i}");
        let (status, _, body) = app
            .post_with_headers(
                "/user-otp/v1/_send",
                &send_body(mobile, "pb", None, None),
                &[("x-real-ip", ip.as_str())],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{mobile}: {body}");
    }
    let (status, headers, body) = app
        .post_with_headers(
            "/user-otp/v1/_send",
            &send_body("9876540004", "pb", None, None),
            &[("x-real-ip", "198.51.100.77")],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(e2_codes(&body), ["OTP.RATE_LIMITED"]);
    assert!(
        body["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("numbers like this one"),
        "{body}"
    );
    assert_eq!(
        send(&app, "9876550001", "pb", None, None).await.0,
        StatusCode::CREATED,
        "another prefix is not affected"
    );
    assert_eq!(
        send(&app, "9876540999", "pb", None, None).await.0,
        StatusCode::CREATED,
        "a test number is exempt"
    );
    assert_eq!(
        app.wait_notifications(4).await.len(),
        4,
        "three of the range and the other prefix: the refused send and the test number queued nothing"
    );
}

#[actix_web::test]
async fn a_state_s_ceiling_holds_over_every_number_and_address() {
    let app = spawn_app_with(|s| s.otp.max_sends_per_state = 2).await;
    for mobile in ["9100000101", "8100000101"] {
        assert_eq!(
            send(&app, mobile, "pb", None, None).await.0,
            StatusCode::CREATED
        );
    }
    let (status, body) = send(&app, "7100000101", "pb", None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("right now"),
        "{body}"
    );
    assert_eq!(app.wait_notifications(2).await.len(), 2);
}

#[actix_web::test]
async fn test_numbers_take_their_fixed_code_and_get_no_sms() {
    let app = spawn_app_with(|s| {
        s.otp.test_numbers = vec![digit_user::config::TestNumber {
            tenant: "pb".into(),
            mobile: "9999999999".into(),
            code: "246810".into(),
            until: "2999-12-31".into(),
        }];
    })
    .await;
    assert_eq!(
        send(&app, "9999999999", "pb", None, None).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.validate_otp("9999999999", "pb", "246810").await.0,
        StatusCode::OK
    );
    assert!(app.settled_notifications().await.is_empty());
}

#[actix_web::test]
async fn a_full_outbox_answers_503_and_queues_nothing_more() {
    let app = spawn_app_with(|s| {
        s.notify.max_outbox_depth = 1;
        // a sink that cannot deliver, so the outbox stays full
        s.notify.file = "/nonexistent-dir/notifications.jsonl".into();
    })
    .await;
    assert_eq!(
        send(&app, "9200000001", "pb", None, None).await.0,
        StatusCode::CREATED
    );
    let (status, body) = send(&app, "9200000002", "pb", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], 503);
    assert_eq!(e2_codes(&body), ["OTP.SERVICE_UNAVAILABLE"]);
    // the refused number got no code: once the backlog is gone it is a first send, not a cooldown
    let (_, body) = app
        .post(
            "/otp/v1/_validate",
            &json!({"otp": {"otp": "000000", "identity": "9200000002", "tenantId": "pb"}}),
        )
        .await;
    assert_eq!(e2_codes(&body), ["OTP.VALIDATION_UNSUCCESSFUL"]);
}
