//! The audit trail published to a SIEM's topic (`audit.kafka_topic`): every event once it is recorded, keyed
//! by the user's uuid, with no personal value, password or token; held through a broker outage and published
//! when a broker answers again.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::broker::{Broker, Consumed, consume_async};
use crate::helpers::{TestApp, spawn_app_with};

const AUDIT_TOPIC: &str = "digit-user-audit";
const MOBILE: &str = "9123700001";

async fn events(broker: &Broker, want: usize) -> Vec<Consumed> {
    consume_async(
        &broker.address(),
        AUDIT_TOPIC,
        want,
        Duration::from_secs(30),
        Duration::from_secs(1),
    )
    .await
}

async fn login(app: &TestApp, password: &str) -> StatusCode {
    app.login_from(
        "198.51.100.20",
        "EMP-SIEM",
        password,
        "pb.amritsar",
        "EMPLOYEE",
    )
    .await
    .0
}

#[actix_web::test]
async fn every_audit_event_reaches_the_siem_topic_through_an_outage() {
    let mut broker = Broker::start();
    broker.create_topic(AUDIT_TOPIC, crate::broker::PARTITIONS as u32);
    let port = broker.port;
    let app = spawn_app_with(|s| {
        crate::kafka_settings(s, &broker.address());
        s.audit.kafka_topic = AUDIT_TOPIC.to_owned();
    })
    .await;
    let mut user = crate::helpers::employee("EMP-SIEM");
    user["name"] = json!("Asha Devi");
    user["mobileNumber"] = json!(MOBILE);
    user["password"] = json!("Abcdef1@");
    let uuid = app.create(user).await["uuid"].as_str().unwrap().to_owned();
    assert_eq!(login(&app, "Abcdef1@").await, StatusCode::OK);

    let got = events(&broker, 2).await;
    let kinds: Vec<&str> = got
        .iter()
        .map(|m| m.payload["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["user_created", "login_succeeded"], "{got:?}");
    for m in &got {
        assert_eq!(m.key, uuid, "keyed by the user's uuid");
        assert_eq!(m.payload["user"], uuid.as_str());
        assert_eq!(
            m.message_id.as_deref(),
            m.payload["id"].as_str(),
            "the id is the message-id"
        );
        let text = m.payload.to_string();
        for secret in [MOBILE, "Asha", "Abcdef1@"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(got[1].payload["source"], "198.51.100.20");

    // the broker goes away: events wait in the queue, and the service answers as before
    broker.stop();
    for _ in 0..3 {
        assert_eq!(login(&app, "Wrong1@pw").await, StatusCode::BAD_REQUEST);
    }
    let feed = app.store.audit().feed();
    for _ in 0..200 {
        if feed.depth() >= 3 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(feed.depth(), 3, "queued while no broker answers");

    // a new broker on the same port (its topics start empty): exactly the three arrive, once each
    let broker = Broker::start_on(port);
    broker.create_topic(AUDIT_TOPIC, crate::broker::PARTITIONS as u32);
    let late = events(&broker, 3).await;
    let ids: HashSet<&str> = late
        .iter()
        .filter_map(|m| m.message_id.as_deref())
        .collect();
    assert_eq!(late.len(), 3, "{late:?}");
    assert_eq!(ids.len(), 3, "no duplicates");
    assert!(
        late.iter()
            .all(|m| m.payload["kind"] == "login_failed" && m.key == uuid)
    );
    for _ in 0..200 {
        if feed.depth() == 0 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(feed.depth(), 0, "published events leave the queue");
}
