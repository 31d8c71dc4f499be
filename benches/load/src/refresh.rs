//! `refresh`: the refresh grant under load — each request in flight rotates a family of its own with the
//! token the family's last refresh returned (one transaction and its flush or append per refresh).

use std::sync::Arc;
use std::time::Duration;

use crate::drive::{Outcome, drive, expect, step};
use crate::service::Api;

/// Logs in `concurrency` times (employees round robin among `employees`), then refreshes for `duration`.
pub async fn refresh(
    api: &Arc<Api>,
    concurrency: usize,
    duration: Duration,
    employees: usize,
) -> Outcome {
    let mut families = Vec::new();
    for i in 0..concurrency {
        let l = api.login_employee(i % employees).await.unwrap().json();
        families.push(tokio::sync::Mutex::new(
            l["refresh_token"].as_str().unwrap().to_owned(),
        ));
    }
    let families = Arc::new(families);
    let api = api.clone();
    drive(
        concurrency,
        duration,
        step(move |n| {
            let (api, families) = (api.clone(), families.clone());
            async move {
                // a free family: one per request in flight, none waits behind another's refresh
                let len = families.len();
                let mut token = (0..len)
                    .find_map(|k| families[(n as usize + k) % len].try_lock().ok())
                    .ok_or("no free family")?;
                let answer = api
                    .token(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token.as_str()),
                    ])
                    .await?;
                expect(&answer, 200, "refresh")?;
                *token = answer.json()["refresh_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                Ok(())
            }
        }),
    )
    .await
}
