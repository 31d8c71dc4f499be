//! `uniform`: with `security.uniform_answers` on, do known and unknown accounts take the same time? A
//! service of its own (the switch on, the default floor, the default lockout) answers three flows for a
//! known and for an unknown account in turn; one line per flow with both medians and their difference.
//!
//! - `uniform_send`: `_send` for login to seeded citizens vs to numbers nobody has;
//! - `uniform_reset`: the no-login password update of a seeded employee with a wrong code vs of nobody;
//! - `uniform_locked`: a login to a locked employee (the right password) vs to nobody.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::drive::{Outcome, drive, expect, step};
use crate::service::{Api, PASSWORD, Service, citizen_mobile, employee_name, seed};

const CITIZENS: usize = 256;

/// The three flows, each known then unknown for `duration`, `concurrency` requests in flight; the floor
/// `floor_ms` when given.
pub async fn uniform(
    workers: usize,
    concurrency: usize,
    duration: Duration,
    floor_ms: Option<u64>,
) -> Vec<Value> {
    let floor = floor_ms.map(|ms| ("DIGIT_USER__SECURITY__ANSWER_FLOOR_MS", ms.to_string()));
    let service = Service::start_with(
        workers,
        None,
        floor
            .into_iter()
            .chain([
                ("DIGIT_USER__SECURITY__UNIFORM_ANSWERS", "true".into()),
                ("DIGIT_USER__LOCKOUT__MAX_INVALID_ATTEMPTS", "5".into()),
                // every request comes from one address: its share of a number's SMS is not what is measured
                (
                    "DIGIT_USER__OTP__MAX_SENDS_PER_SOURCE_PER_HOUR",
                    "100000000".into(),
                ),
            ])
            .collect(),
    );
    let api = Arc::new(Api::new(&service));
    seed(&api, 2, CITIZENS).await;
    // employee 1 locked: it logged in from here, then failed from here as often as the lockout allows
    let locked = employee_name(1);
    let login = {
        let api = api.clone();
        move |user: String, password: &'static str| {
            let api = api.clone();
            async move {
                api.token(&[
                    ("grant_type", "password"),
                    ("username", user.as_str()),
                    ("password", password),
                    ("tenantId", "pb.amritsar"),
                    ("userType", "EMPLOYEE"),
                    ("scope", "read"),
                ])
                .await
                .map(|answer| answer.status)
            }
        }
    };
    assert_eq!(login(locked.clone(), PASSWORD).await, Ok(200));
    for _ in 0..5 {
        login(locked.clone(), "Wrong1@pw").await.unwrap();
    }

    let send = |known: bool| {
        let api = api.clone();
        step(move |n| {
            let api = api.clone();
            let mobile = if known {
                citizen_mobile(n as usize % CITIZENS)
            } else {
                format!("7{:09}", n)
            };
            async move {
                let body = json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "login",
                                          "userType": "citizen"}});
                let answer = api.post(&api.public, "/user-otp/v1/_send", &body).await?;
                expect(&answer, 201, "send")
            }
        })
    };
    let reset = |known: bool| {
        let api = api.clone();
        step(move |n| {
            let api = api.clone();
            let user = if known {
                employee_name(0)
            } else {
                format!("NOBODY{n}")
            };
            async move {
                let body = json!({"RequestInfo": {}, "otpReference": "000000", "userName": user,
                    "newPassword": "Reset1@pw", "tenantId": "pb.amritsar", "type": "EMPLOYEE"});
                let answer = api
                    .post(&api.public, "/user/password/nologin/_update", &body)
                    .await?;
                expect(&answer, 400, "reset")
            }
        })
    };
    let locked_login = |known: bool| {
        let login = login.clone();
        let locked = locked.clone();
        step(move |n| {
            let user = if known {
                locked.clone()
            } else {
                format!("NOBODY{n}")
            };
            let status = login(user, PASSWORD);
            async move {
                match status.await? {
                    400 => Ok(()),
                    other => Err(format!("locked login: {other}")),
                }
            }
        })
    };

    let mut lines = Vec::new();
    let flows = [
        ("uniform_send", send(true), send(false)),
        ("uniform_reset", reset(true), reset(false)),
        ("uniform_locked", locked_login(true), locked_login(false)),
    ];
    for (name, known, unknown) in flows {
        let known = drive(concurrency, duration, known).await;
        let unknown = drive(concurrency, duration, unknown).await;
        lines.push(line(name, &known, &unknown, concurrency));
    }
    lines
}

fn line(name: &str, known: &Outcome, unknown: &Outcome, concurrency: usize) -> Value {
    let (k, u) = (known.ms(0.5), unknown.ms(0.5));
    let diff = (k - u).abs() / k.min(u).max(f64::EPSILON) * 100.0;
    println!(
        "{name:<16} known p50 {k:>7.2} ms  unknown p50 {u:>7.2} ms  difference {diff:>5.1} %  \
         (p99 {:.2} / {:.2} ms, errors {} / {}, concurrency {concurrency})",
        known.ms(0.99),
        unknown.ms(0.99),
        known.errors,
        unknown.errors
    );
    let round = |x: f64| (x * 100.0).round() / 100.0;
    json!({
        "scenario": name, "known_p50_ms": round(k), "unknown_p50_ms": round(u), "difference_pct": round(diff),
        "known_p99_ms": round(known.ms(0.99)), "unknown_p99_ms": round(unknown.ms(0.99)),
        "errors": known.errors + unknown.errors, "concurrency": concurrency,
    })
}
