//! The `kafka` sink against a real Kafka-protocol broker (tansu): DIGIT's payloads field by field, broker
//! outages, a crash while messages are queued, and outbox back-pressure.

#[allow(dead_code)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

mod audit_feed;
mod broker;
mod journal_crash;
mod journal_directory;
mod journal_log;
mod journal_outage;
mod journal_revocations;
mod journal_service;
mod journal_topics;
mod journal_writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use digit_user::config::{Settings, SinkKind};
use nix::sys::signal::Signal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use broker::{Broker, Consumed, EMAIL_TOPIC, SMS_TOPIC, consume, consume_async};
use helpers::{Process, TestApp, employee, otp_in, spawn_app_with};

/// The service publishing to `address`, retrying fast (tests wait for outages to end, not for back-offs).
fn kafka_settings(s: &mut Settings, address: &str) {
    s.notify.sink = SinkKind::Kafka;
    s.kafka.brokers = address.to_owned();
    // the sink's own behaviour, outages included, on one pod: writes do not wait for a journal
    s.journal.enabled = false;
    s.kafka.delivery_timeout_ms = 2000;
    s.kafka.properties = BTreeMap::from([
        ("reconnect.backoff.ms".to_owned(), "50".to_owned()),
        ("reconnect.backoff.max.ms".to_owned(), "500".to_owned()),
    ]);
    s.notify.backoff_max_ms = 500;
    s.otp.max_sends_per_ip_per_hour = 100_000;
    s.otp.max_sends_per_prefix = 100_000;
    s.otp.max_sends_per_state = 1_000_000;
}

async fn send(
    app: &TestApp,
    mobile: &str,
    tenant: &str,
    kind: &str,
    user_type: &str,
) -> StatusCode {
    app.post(
        "/user-otp/v1/_send",
        &json!({"RequestInfo": {"msgId": "1690000000000|en_IN"},
                "otp": {"mobileNumber": mobile, "tenantId": tenant, "type": kind, "userType": user_type}}),
    )
    .await
    .0
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// The code in a message's text (SMS `message`, e-mail `body`), and the message with that text removed.
fn split_code(m: &Consumed) -> (String, String) {
    let mut rest = m.payload.clone();
    let text = if m.topic == SMS_TOPIC {
        rest["message"].take()
    } else {
        rest["email"]["body"].take()
    };
    let code = otp_in(text.as_str().unwrap());
    let elsewhere = format!("{} {} {:?} {:?}", rest, m.key, m.message_id, m.header_names);
    (code, elsewhere)
}

#[actix_web::test]
async fn every_otp_message_reaches_kafka_as_digit_consumers_expect() {
    let broker = Broker::start();
    let app = spawn_app_with(|s| kafka_settings(s, &broker.address())).await;
    app.create(json!({"userName": "9876543211", "name": "Citizen", "mobileNumber": "9876543211", "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "emailId": "asha@example.org", "roles": [{"code": "CITIZEN"}]}))
        .await;
    let mut e = employee("EMP-K");
    e["mobileNumber"] = json!("9876543212");
    e["emailId"] = json!("emp@example.org");
    app.create(e).await;
    assert_eq!(
        send(&app, "9876543210", "pb", "register", "citizen").await,
        StatusCode::CREATED
    );
    assert_eq!(
        send(&app, "9876543211", "pb", "login", "citizen").await,
        StatusCode::CREATED
    );
    assert_eq!(
        send(
            &app,
            "9876543212",
            "pb.amritsar",
            "passwordreset",
            "EMPLOYEE"
        )
        .await,
        StatusCode::CREATED
    );

    let long = Duration::from_secs(30);
    let sms = consume_async(
        &broker.address(),
        SMS_TOPIC,
        3,
        long,
        Duration::from_millis(500),
    )
    .await;
    let email = consume_async(
        &broker.address(),
        EMAIL_TOPIC,
        2,
        long,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!((sms.len(), email.len()), (3, 2), "{sms:?} {email:?}");
    assert!(
        !app.data_dir.join("notifications.jsonl").exists(),
        "nothing went to the file sink"
    );

    let mut codes = HashMap::new();
    for m in &sms {
        let p = &m.payload;
        assert_eq!(
            keys(p),
            [
                "mobileNumber",
                "message",
                "category",
                "expiryTime",
                "countryCode"
            ]
        );
        assert_eq!(
            p["mobileNumber"].as_str(),
            Some(m.key.as_str()),
            "keyed by the mobile number"
        );
        assert_eq!(p["category"], "OTP");
        // user-otp resolves the country code by the mobile rules, which a password reset skips
        let country = if m.key == "9876543212" {
            Value::Null
        } else {
            json!("+91")
        };
        assert_eq!(p["countryCode"], country, "{}", m.key);
        assert!(p["expiryTime"].as_i64().unwrap() > 1_700_000_000_000);
        assert_eq!(m.header_names, ["message-id"]);
        assert!(uuid::Uuid::parse_str(m.message_id.as_deref().unwrap()).is_ok());
        let (code, elsewhere) = split_code(m);
        assert!(
            !elsewhere.contains(&code),
            "the code outside the text: {elsewhere}"
        );
        codes.insert(m.key.clone(), code);
    }

    let null_info = json!({"apiId": null, "ver": null, "ts": null, "action": null, "did": null, "key": null,
                           "msgId": null, "authToken": null, "correlationId": null,
                           "plainAccessRequest": null, "userInfo": null});
    let mut to: Vec<&str> = Vec::new();
    for m in &email {
        let p = &m.payload;
        assert_eq!(keys(p), ["requestInfo", "email"]);
        assert_eq!(p["requestInfo"], null_info);
        assert_eq!(keys(&p["email"]), ["emailTo", "subject", "body"]);
        let address = p["email"]["emailTo"][0].as_str().unwrap();
        assert_eq!(m.key, address, "keyed by the e-mail address");
        to.push(address);
        let (code, elsewhere) = split_code(m);
        assert!(
            !elsewhere.contains(&code),
            "the code outside the text: {elsewhere}"
        );
        let mobile = if address == "asha@example.org" {
            "9876543211"
        } else {
            "9876543212"
        };
        assert_eq!(codes[mobile], code, "the e-mail carries the SMS's code");
    }
    to.sort_unstable();
    assert_eq!(to, ["asha@example.org", "emp@example.org"]);
}

fn number(i: usize) -> String {
    format!("98{:08}", i)
}

#[actix_web::test]
async fn a_broker_outage_delays_messages_and_loses_none() {
    let mut broker = Broker::start();
    let port = broker.port;
    let app = spawn_app_with(|s| kafka_settings(s, &broker.address())).await;
    assert_eq!(
        send(&app, &number(9999), "pb", "register", "citizen").await,
        StatusCode::CREATED
    );
    let first = consume_async(
        &broker.address(),
        SMS_TOPIC,
        1,
        Duration::from_secs(30),
        Duration::ZERO,
    )
    .await;
    assert_eq!(first.len(), 1, "delivered while the broker is up");

    broker.stop();
    for i in 0..200 {
        assert_eq!(
            send(&app, &number(i), "pb", "register", "citizen").await,
            StatusCode::CREATED
        );
    }
    let status = app.get_internal("/health/ready").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "ready while the broker is down: sends are durable"
    );

    // a new broker on the same port: the in-memory topics start empty, so exactly the 200 must arrive
    let broker = Broker::start_on(port);
    let got = consume_async(
        &broker.address(),
        SMS_TOPIC,
        200,
        Duration::from_secs(30),
        Duration::from_secs(3),
    )
    .await;
    let ids: HashSet<&str> = got.iter().filter_map(|m| m.message_id.as_deref()).collect();
    let numbers: HashSet<&str> = got.iter().map(|m| m.key.as_str()).collect();
    let duplicates = got.len() - ids.len();
    if let Some((_, r)) = app.store.outbox().waiting(1).unwrap().first() {
        println!(
            "outbox: depth {} first attempts {} last error {:?}",
            app.store.outbox().depth(),
            r.attempts,
            r.last_error
        );
    }
    println!(
        "outage: {} messages consumed, {} distinct, {duplicates} duplicates",
        got.len(),
        ids.len()
    );
    assert_eq!(numbers.len(), 200, "every acknowledged send arrived");
    assert_eq!(duplicates, 0, "no duplicates in this scenario");
}

#[actix_web::test]
async fn outbox_back_pressure_answers_503_and_recovers_with_the_broker() {
    let port = helpers::free_port();
    let app = spawn_app_with(|s| {
        kafka_settings(s, &format!("127.0.0.1:{port}"));
        s.notify.max_outbox_depth = 5;
    })
    .await;
    for i in 0..5 {
        assert_eq!(
            send(&app, &number(100 + i), "pb", "register", "citizen").await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        send(&app, &number(105), "pb", "register", "citizen").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "the outbox is full while no broker answers"
    );
    let broker = Broker::start_on(port);
    let got = consume_async(
        &broker.address(),
        SMS_TOPIC,
        5,
        Duration::from_secs(60),
        Duration::ZERO,
    )
    .await;
    assert_eq!(got.len(), 5);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = send(&app, &number(105), "pb", "register", "citizen").await;
        if status == StatusCode::CREATED {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        StatusCode::CREATED,
        "accepting again once the outbox drained"
    );
}

fn send_blocking(base: &str, mobile: &str) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("{base}/user-otp/v1/_send"))
        .json(&json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn admin_outbox(dir: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_digit-user"))
        .args(["admin", "outbox", "--data-dir"])
        .arg(dir)
        .env("DIGIT_USER__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn queued_messages_survive_a_shutdown_and_a_sigkill_while_the_broker_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = helpers::free_port();
    let env: HashMap<&str, String> = HashMap::from([
        ("DIGIT_USER__KAFKA__BROKERS", format!("127.0.0.1:{port}")),
        ("DIGIT_USER__JOURNAL__ENABLED", "false".to_owned()),
        ("DIGIT_USER__KAFKA__DELIVERY_TIMEOUT_MS", "1000".to_owned()),
        ("DIGIT_USER__NOTIFY__BACKOFF_MAX_MS", "500".to_owned()),
        ("DIGIT_USER__NOTIFY__SHUTDOWN_DRAIN_SECS", "2".to_owned()),
        (
            "DIGIT_USER__OTP__MAX_SENDS_PER_IP_PER_HOUR",
            "100000".to_owned(),
        ),
        ("DIGIT_USER__OTP__MAX_SENDS_PER_PREFIX", "100000".to_owned()),
        ("DIGIT_USER__OTP__MAX_SENDS_PER_STATE", "1000000".to_owned()),
    ]);
    // first life: sends queue while no broker answers; SIGTERM ends it in order, the rest stays queued
    let app = Process::start(dir.path(), &env).unwrap();
    for i in 0..30 {
        assert_eq!(send_blocking(&app.base, &number(300 + i)), 201);
    }
    let view: Value = reqwest::blocking::get(format!("{}/admin/outbox", app.internal))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (view["sink"].as_str(), view["depth"].as_u64()),
        (Some("kafka"), Some(30)),
        "{view}"
    );
    assert_eq!(
        reqwest::blocking::get(format!("{}/admin/outbox", app.base))
            .unwrap()
            .status(),
        404
    );
    // a delivery attempt fails and is recorded before the stop
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view: Value = reqwest::blocking::get(format!("{}/admin/outbox", app.internal))
            .unwrap()
            .json()
            .unwrap();
        if view["lastError"].is_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt recorded: {view}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = std::time::Instant::now();
    let (status, log) = app.stop_with_log(Signal::SIGTERM);
    println!("shutdown with the broker down took {:?}", started.elapsed());
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("kafka brokers unreachable"), "{log}");
    let line = admin_outbox(dir.path());
    assert!(line.starts_with("outbox: 30 waiting"), "{line}");
    assert!(
        line.contains("timed out"),
        "the last error is shown: {line}"
    );

    // second life: more sends, then SIGKILL
    let app = Process::start(dir.path(), &env).unwrap();
    for i in 30..50 {
        assert_eq!(send_blocking(&app.base, &number(300 + i)), 201);
    }
    app.stop(Signal::SIGKILL);

    // the broker returns, the service restarts: every acknowledged send arrives
    let broker = Broker::start_on(port);
    let app = Process::start(dir.path(), &env).unwrap();
    let got = consume(
        &broker.address(),
        SMS_TOPIC,
        50,
        Duration::from_secs(60),
        Duration::from_secs(2),
    );
    let numbers: HashSet<&str> = got.iter().map(|m| m.key.as_str()).collect();
    let ids: HashSet<&str> = got.iter().filter_map(|m| m.message_id.as_deref()).collect();
    println!(
        "after the restarts: {} consumed, {} distinct",
        got.len(),
        ids.len()
    );
    assert_eq!(numbers.len(), 50, "every acknowledged send arrived");
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));
    assert!(admin_outbox(dir.path()).starts_with("outbox: 0 waiting"));
}
