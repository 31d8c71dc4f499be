//! Logins, lockouts, unlocks, refresh reuse, revocations and the hasher queue are counted, with bounded
//! labels. Its own test binary: the metrics recorder is global.

#[allow(dead_code)]
#[path = "api/helpers/mod.rs"]
mod helpers;

use actors::metrics as m;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use serde_json::json;

use helpers::{Via, employee, spawn_app_at};

fn labels(key: &CompositeKey) -> Vec<(String, String)> {
    key.key()
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect()
}

#[actix_web::test]
async fn login_outcomes_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();

    let clock = actors::Clock::manual(actors::Clock::System.now_ms());
    let app = spawn_app_at(clock.clone(), |s| s.lockout.max_invalid_attempts = 2).await;
    let mut e = employee("EMP-MET");
    e["password"] = json!("Abcdef1@");
    let created = app.create(e).await;
    let (_, ok) = app
        .login("EMP-MET", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    let refresh = ok["refresh_token"].as_str().unwrap().to_owned();
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(app.token(&params, Via::Form).await.0, 200);
    clock.advance_ms(11_000);
    assert_eq!(
        app.token(&params, Via::Form).await.0,
        400,
        "reused after the grace window"
    );
    let (_, again) = app
        .login("EMP-MET", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    app.post(
        "/user/_logout",
        &json!({"access_token": again["access_token"]}),
    )
    .await;
    app.login("EMP-MET", "Abcdef1@", "pb.amritsar", "EMPLOYEE")
        .await;
    for _ in 0..2 {
        app.login("EMP-MET", "Wrong1@pw", "pb.amritsar", "EMPLOYEE")
            .await;
    }
    let mut unlock = created.clone();
    unlock["accountLocked"] = json!(false);
    let (status, body) = app
        .post("/user/users/_updatenovalidate", &json!({"user": unlock}))
        .await;
    assert_eq!(status, 200, "{body}");

    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str, want: &[(&str, &str)]| -> u64 {
        snapshot
            .iter()
            .filter(|(k, _, _, _)| k.kind() == MetricKind::Counter && k.key().name() == name)
            .filter(|(k, _, _, _)| {
                let have = labels(k);
                want.iter()
                    .all(|(wk, wv)| have.iter().any(|(k, v)| k == wk && v == wv))
            })
            .map(|(_, _, _, v)| match v {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    };
    let login = |grant, result| {
        counter(
            m::LOGINS,
            &[
                ("grant", grant),
                ("user_type", "employee"),
                ("result", result),
            ],
        )
    };
    assert_eq!(login("password", "success"), 3);
    assert_eq!(login("password", "invalid"), 1);
    assert_eq!(login("password", "locked"), 1);
    assert_eq!(login("refresh_token", "success"), 1);
    assert_eq!(
        login("refresh_token", "invalid"),
        0,
        "the reuse has no user type"
    );
    assert_eq!(
        counter(
            m::LOGINS,
            &[
                ("grant", "refresh_token"),
                ("user_type", "unknown"),
                ("result", "invalid")
            ]
        ),
        1
    );
    assert_eq!(counter(m::REFRESH_REUSE, &[]), 1);
    assert_eq!(counter(m::REVOCATIONS, &[("reason", "reuse")]), 1);
    assert_eq!(counter(m::LOCKOUTS, &[]), 1);
    assert_eq!(counter(m::UNLOCKS, &[("reason", "admin")]), 1);
    assert_eq!(counter(m::REVOCATIONS, &[("reason", "rotation")]), 1);
    assert_eq!(
        counter(m::REVOCATIONS, &[("reason", "logout")]),
        2,
        "the token and its family"
    );
    assert_eq!(
        counter(m::REVOCATIONS, &[("reason", "lockout")]),
        1,
        "the one live family"
    );
    let waits: usize = snapshot
        .iter()
        .filter(|(k, _, _, _)| {
            k.kind() == MetricKind::Histogram && k.key().name() == m::HASHER_WAIT_SECONDS
        })
        .map(|(_, _, _, v)| match v {
            DebugValue::Histogram(samples) => samples.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(waits, 6, "one hash (create) and five verifies are timed");
    assert!(
        snapshot
            .iter()
            .any(|(k, _, _, _)| k.kind() == MetricKind::Gauge
                && k.key().name() == m::HASHER_QUEUE_DEPTH),
        "queue depth gauge"
    );
    for (key, _, _, _) in &snapshot {
        for (_, value) in labels(key) {
            assert!(
                !value.contains("EMP-MET") && !value.contains("9876543210"),
                "{key:?}"
            );
        }
    }
}
