//! Long searches run on the bulk threads, not on the HTTP workers (issue 23): a worker answers a health
//! probe while a big page is built, and a full pool refuses more pages with a retryable 503 instead of
//! queueing them without limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, employee, spawn_app_with};

/// Employees sharing a role nobody else holds.
const USERS: usize = 1500;

async fn seed(app: &Arc<TestApp>) {
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(25) {
        let creates = chunk.iter().map(|i| {
            let mut user = employee(&format!("BULK{i:05}"));
            user["roles"] = json!([{"code": "PGR-ADMIN"}, {"code": "EMPLOYEE"}]);
            let app = app.clone();
            async move { app.create(user).await }
        });
        futures_util::future::join_all(creates).await;
    }
}

fn page() -> serde_json::Value {
    json!({"roleCodes": ["PGR-ADMIN"], "tenantId": "pb.amritsar", "pageSize": 5000})
}

#[actix_web::test]
async fn a_worker_answers_health_while_a_page_is_built_and_a_full_pool_refuses() {
    // one worker: if the page were built on it, nothing else could be answered meanwhile
    let app = Arc::new(
        spawn_app_with(|s| {
            s.http.workers = 1;
            s.http.bulk_threads = 1;
            s.http.bulk_queue = 1;
        })
        .await,
    );
    seed(&app).await;

    let order = Arc::new(Mutex::new(Vec::new()));
    let search = {
        let (app, order) = (app.clone(), order.clone());
        actix_web::rt::spawn(async move {
            let (status, body) = app.post("/user/v1/_search", &page()).await;
            order.lock().unwrap().push("page");
            (status, body["user"].as_array().map_or(0, Vec::len))
        })
    };
    // the page's request is in (and its work on the bulk thread) before the probe is sent
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    let health = reqwest::get(format!("{}/health/live", app.public))
        .await
        .unwrap()
        .status();
    order.lock().unwrap().push("health");
    assert_eq!(health, StatusCode::OK);
    assert_eq!(search.await.unwrap(), (StatusCode::OK, USERS));
    assert_eq!(
        *order.lock().unwrap(),
        ["health", "page"],
        "the probe was answered while the page was built"
    );

    // one page built, one waiting: more at once are refused, retryable, and the rest are whole
    let pages = (0..6).map(|_| {
        let app = app.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{}/user/v1/_search", app.public))
                .json(&page())
                .send()
                .await
                .unwrap();
            let (status, retry) = (
                response.status(),
                response.headers().get("retry-after").cloned(),
            );
            let body: serde_json::Value = response.json().await.unwrap();
            (status, retry, body)
        }
    });
    let answers = futures_util::future::join_all(pages).await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !refused.is_empty(),
        "six pages at once on one thread and a queue of one"
    );
    for (_, retry, body) in &refused {
        assert!(retry.is_some(), "a refusal says when to retry");
        assert_eq!(body["Errors"][0]["code"], "SERVICE_BUSY", "{body}");
    }
    for (status, _, body) in &answers {
        if *status == StatusCode::OK {
            assert_eq!(body["user"].as_array().unwrap().len(), USERS);
        }
    }
    assert!(answers.iter().any(|(s, _, _)| *s == StatusCode::OK));
}
