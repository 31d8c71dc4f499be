//! `restore` (with `--journal`): how fast a pod whose volume is lost rebuilds itself from the journal —
//! `--users` employees created, the service killed, its data dir deleted, started again with the same keys,
//! timed until it is ready (every partition read to the journal's end), and every user counted back.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::drive::{Outcome, drive_count, expect, step};
use crate::service::{Api, Service};
use crate::{Args, round};

/// Creates `count` employees without a password (no argon2), 64 at a time.
async fn create_users(api: &Arc<Api>, count: u64) -> Outcome {
    let api = api.clone();
    drive_count(
        count,
        step(move |n| {
            let api = api.clone();
            async move {
                let answer = api
                    .post(
                        &api.public,
                        "/user/users/_createnovalidate",
                        &json!({"user": {"userName": format!("RESTORE-{n}"), "name": "Restore User",
                        "mobileNumber": "9876543210", "type": "EMPLOYEE", "tenantId": "pb.amritsar",
                        "active": true, "roles": [{"code": "EMPLOYEE"}]}}),
                    )
                    .await?;
                expect(&answer, 200, "create")
            }
        }),
    )
    .await
}

/// The users the service holds, by its own count.
async fn stored_users(api: &Api, service: &Service) -> u64 {
    let answer = api
        .post(&service.internal, "/cluster/status", &json!({}))
        .await
        .expect("status");
    let body = answer.json();
    assert_eq!(answer.status, 200, "{body}");
    body["stored"]["users"].as_u64().expect("a count")
}

/// Runs the scenario; needs `--journal`.
pub async fn restore(args: &Args) -> Value {
    let Some(brokers) = args.journal.as_deref() else {
        eprintln!("error: the restore scenario reads the journal: give --journal BROKERS");
        std::process::exit(2);
    };
    let mut service = Service::start(args.workers, Some(brokers));
    let api = Arc::new(Api::new(&service));
    let total = args.users as u64;
    let started = Instant::now();
    let created = create_users(&api, total).await;
    assert_eq!(
        created.errors, 0,
        "creates failed: {:?}",
        created.first_error
    );
    let create_rate = total as f64 / started.elapsed().as_secs_f64();
    let before = stored_users(&api, &service).await;
    let took = tokio::task::block_in_place(|| service.restart_wiped());
    let after = stored_users(&api, &service).await;
    assert_eq!(after, before, "every user back after the restore");
    let rate = after as f64 / took.as_secs_f64();
    println!(
        "{:<16} {after} users: created at {create_rate:.0}/s; a wiped pod ready again in {:.1} s ({rate:.0} users/s)",
        "restore",
        took.as_secs_f64()
    );
    json!({
        "scenario": "restore", "users": after, "create_rps": round(create_rate),
        "restore_seconds": round(took.as_secs_f64()), "users_per_second": round(rate),
    })
}
