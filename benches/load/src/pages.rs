//! `big_pages`: 5,000-user pages pulled by every client at once — `/user/v1/_search` by role, the page size
//! an inter-service caller may ask — while a light probe keeps asking `/health/ready` (what Kubernetes'
//! readiness probe asks, with a 1 s timeout) and `/user/_details` (what the gateway asks on every request).
//! The probe's figures are what count: measured idle first, then under the pages.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::drive::{Outcome, drive, drive_count, drive_paced, expect, step};
use crate::service::Api;
use crate::{report, round};

/// Users holding the searched role: one page's worth.
pub const PAGE: usize = 5_000;

/// The role the page's users hold and nobody else.
const ROLE: &str = "PGR-ADMIN";

/// Creates [`PAGE`] employees with [`ROLE`] in `pb.amritsar`.
pub async fn seed(api: &Arc<Api>) {
    let api = api.clone();
    let o = drive_count(
        PAGE as u64,
        step(move |n| {
            let api = api.clone();
            async move {
                let answer = api
                    .post(&api.public, "/user/users/_createnovalidate",
                        &json!({"user": {"userName": format!("PAGE{n:05}"), "name": format!("Page User {n}"),
                            "mobileNumber": format!("98{n:08}"), "emailId": format!("page{n}@example.org"),
                            "gender": "FEMALE", "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true,
                            "roles": [{"code": ROLE}, {"code": "EMPLOYEE"}]}}))
                    .await?;
                expect(&answer, 200, "create")
            }
        }),
    )
    .await;
    assert_eq!(
        o.errors, 0,
        "seeding the page's users failed: {:?}",
        o.first_error
    );
}

/// Four probes, each pausing 20 ms between requests: health and details alternately.
async fn probe(api: &Arc<Api>, token: &str, duration: Duration) -> (Outcome, Outcome) {
    let (a, t) = (api.clone(), token.to_owned());
    let health = tokio::spawn(drive_paced(
        2,
        duration,
        Some(Duration::from_millis(20)),
        step(move |_| {
            let api = a.clone();
            async move { api.health().await }
        }),
    ));
    let a = api.clone();
    let details = drive_paced(
        2,
        duration,
        Some(Duration::from_millis(20)),
        step(move |_| {
            let (api, token) = (a.clone(), t.clone());
            async move { api.details(&token).await.map(drop) }
        }),
    )
    .await;
    (health.await.unwrap(), details)
}

/// Runs the scenario: the probe alone, then beside `concurrency` clients pulling pages.
pub async fn big_pages(
    api: &Arc<Api>,
    token: &str,
    concurrency: usize,
    duration: Duration,
) -> Value {
    let (health_idle, details_idle) = probe(api, token, duration.min(Duration::from_secs(5))).await;
    let page_bytes = Arc::new(AtomicUsize::new(0));
    let pages = {
        let (api, page_bytes) = (api.clone(), page_bytes.clone());
        tokio::spawn(drive(
            concurrency,
            duration,
            step(move |_| {
                let (api, page_bytes) = (api.clone(), page_bytes.clone());
                async move {
                    let answer = api
                        .post(&api.public, "/user/v1/_search",
                            &json!({"roleCodes": [ROLE], "tenantId": "pb.amritsar", "pageSize": PAGE}))
                        .await?;
                    expect(&answer, 200, "page")?;
                    // a page cut short would flatter the rate
                    if answer.body.len() < PAGE * 200 {
                        return Err(format!("a page of {} bytes", answer.body.len()));
                    }
                    page_bytes.store(answer.body.len(), Ordering::Relaxed);
                    Ok(())
                }
            }),
        ))
    };
    let (health, details) = probe(api, token, duration).await;
    let pages = pages.await.unwrap();
    println!(
        "{:<16} health p50 {:.2} ms p99 {:.2} ms (idle p99 {:.2}), details p99 {:.2} ms (idle {:.2}), probe errors {}",
        "",
        health.ms(0.5),
        health.ms(0.99),
        health_idle.ms(0.99),
        details.ms(0.99),
        details_idle.ms(0.99),
        health.errors + details.errors
    );
    report(
        "big_pages",
        &pages,
        concurrency,
        ("-", 0.0),
        json!({"page_users": PAGE, "page_bytes": page_bytes.load(Ordering::Relaxed), "health_p50_ms": round(health.ms(0.5)),
               "health_p99_ms": round(health.ms(0.99)), "health_idle_p99_ms": round(health_idle.ms(0.99)),
               "details_p99_ms": round(details.ms(0.99)), "details_idle_p99_ms": round(details_idle.ms(0.99)),
               "probe_errors": health.errors + details.errors,
               "note": "rps: pages/s; the probe's p99 under the pages beside its p99 idle"}),
    )
}
