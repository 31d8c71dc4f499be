//! The metrics as Prometheus sees them: the real binary (Kafka sink, real tansu broker) under a small
//! workload that touches every metric family, scraped by a real Prometheus on loopback with the shipped
//! alert rules loaded. Every metric name a dashboard panel or an alert uses must exist, every dashboard and
//! alert expression must evaluate, every rule must be healthy, and no label may carry a number or a name.

#[allow(dead_code)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

#[allow(dead_code)]
#[path = "../kafka/broker.rs"]
mod broker;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use broker::Broker;
use helpers::journal::journaled_env;
use helpers::{BASIC, Process, free_port, otp_in};

const CITIZEN: &str = "9876512345";
const EMPLOYEE: &str = "EMP-METRICS";
/// The SIEM's topic the audit trail is published to.
const AUDIT_TOPIC: &str = "digit-user-audit";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

fn token(base: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}/user/oauth/token"))
        .header("authorization", BASIC)
        .form(params)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

fn login(base: &str, password: &str) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "password"),
            ("username", EMPLOYEE),
            ("password", password),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
        ],
    )
}

/// The SMS codes sent to `mobile` so far, read from the broker.
fn codes(address: &str, mobile: &str, want: usize) -> Vec<String> {
    broker::consume(
        address,
        broker::SMS_TOPIC,
        want,
        Duration::from_secs(10),
        Duration::ZERO,
    )
    .into_iter()
    .filter(|m| m.key == mobile)
    .map(|m| otp_in(m.payload["message"].as_str().unwrap()))
    .take(want)
    .collect()
}

/// A workload that makes every metric family appear.
fn workload(base: &str, broker: &str) {
    let employee = json!({"userName": EMPLOYEE, "name": "Asha Devi", "mobileNumber": "9876500099",
                          "password": "Abcdef1@", "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true,
                          "roles": [{"code": "EMPLOYEE"}]});
    assert_eq!(
        post(
            base,
            "/user/users/_createnovalidate",
            json!({"user": employee})
        )
        .0,
        200
    );
    let send = |mobile: &str, kind: &str| {
        post(base, "/user-otp/v1/_send",
             json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": kind, "userType": "citizen"}})).0
    };
    // funnel: sent, delivered, verified, wrong; expired (a 4 s code nobody uses)
    assert_eq!(send(CITIZEN, "register"), 201);
    assert_eq!(
        send(CITIZEN, "register"),
        201,
        "a resend inside the code's life re-sends it"
    );
    let code = codes(broker, CITIZEN, 2).remove(0);
    let validate = |otp: &str| {
        post(
            base,
            "/otp/v1/_validate",
            json!({"otp": {"otp": otp, "identity": CITIZEN, "tenantId": "pb"}}),
        )
        .0
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(validate(wrong), 400);
    assert_eq!(post(base, "/user/citizen/_create",
                    json!({"User": {"name": "C", "username": CITIZEN, "otpReference": code, "tenantId": "pb"}})).0, 200);
    assert_eq!(send("9876512346", "register"), 201);
    assert_eq!(send("9876512346", "register"), 201);
    // logins: success, refresh, reuse after the (zero) grace window, details, logout, failures to a lock
    let (status, first) = login(base, "Abcdef1@");
    assert_eq!(status, 200, "{first}");
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        token(
            base,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]
        )
        .0,
        200
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        token(
            base,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]
        )
        .0,
        400
    );
    let (_, second) = login(base, "Abcdef1@");
    let access = second["access_token"].as_str().unwrap();
    let details = client()
        .post(format!("{base}/user/_details"))
        .query(&[("access_token", access)])
        .send()
        .unwrap();
    assert_eq!(details.status().as_u16(), 200);
    assert_eq!(
        post(base, "/user/_logout", json!({"access_token": access})).0,
        200
    );
    for _ in 0..2 {
        login(base, "Wrong1@pw");
    }
    assert_eq!(
        login(base, "Abcdef1@").1["error_description"],
        "Account locked"
    );
    // a GRO asks for a citizen's masked number in clear: a plain access
    let found = post(
        base,
        "/user/_search",
        json!({"userName": CITIZEN, "tenantId": "pb"}),
    )
    .1;
    let uuid = found["user"][0]["uuid"].as_str().unwrap().to_owned();
    let (status, shown) = post(
        base,
        "/user/_search",
        json!({"RequestInfo": {"userInfo": {"uuid": "aaaaaaaa-0000-4000-8000-000000000002", "type": "EMPLOYEE",
                                            "roles": [{"code": "GRO"}]},
                               "plainAccessRequest": {"recordId": uuid, "plainRequestFields": ["mobileNumber"]}},
               "uuid": [uuid], "tenantId": "pb"}),
    );
    assert_eq!(
        (status, &shown["user"][0]["mobileNumber"]),
        (200, &json!(CITIZEN))
    );
    let users = post(
        base,
        "/user/v1/_search",
        json!({"userName": EMPLOYEE, "tenantId": "pb.amritsar"}),
    )
    .1;
    let mut unlock = users["user"][0].clone();
    unlock["accountLocked"] = json!(false);
    assert_eq!(
        post(
            base,
            "/user/users/_updatenovalidate",
            json!({"user": unlock})
        )
        .0,
        200
    );
}

struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Self {
        let rules = dir.join("alerts.yaml");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/alerts.yaml"),
            &rules,
        )
        .unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: digit-user\n    metrics_path: /metrics\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n        labels:\n          pod: test-0\n",
                rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed by scripts/test.sh (apt-get install prometheus)");
        let me = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        me.wait_for("sum(count_over_time(up{job=\"digit-user\"}[1m])) >= 3 and on() max(up{job=\"digit-user\"}) == 1");
        me
    }

    fn query(&self, expr: &str) -> Value {
        client()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// The loaded rule groups once every rule has been evaluated at least once.
    fn evaluated_rules(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let rules: Value = client()
                .get(format!("{}/api/v1/rules", self.url))
                .send()
                .unwrap()
                .json()
                .unwrap();
            let evaluated = rules["data"]["groups"].as_array().is_some_and(|groups| {
                groups.iter().all(|g| {
                    g["rules"].as_array().is_some_and(|rs| {
                        rs.iter().all(|r| {
                            r["lastEvaluation"]
                                .as_str()
                                .is_some_and(|t| !t.starts_with("0001-"))
                        })
                    })
                })
            });
            if evaluated {
                return rules;
            }
            assert!(Instant::now() < deadline, "rules never evaluated: {rules}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `expr` returns a result (Prometheus up, the target scraped enough times).
    fn wait_for(&self, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = client()
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", expr)])
                .send()
                && let Ok(v) = resp.json::<Value>()
                && v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            {
                return;
            }
            assert!(Instant::now() < deadline, "prometheus never saw: {expr}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Every `expr` of the shipped dashboards, with Grafana's variables filled in.
fn dashboard_exprs() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let board: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in board["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "1m")
                    .replace("$__range", "5m")
                    .replace("$pod", ".*");
                let name = format!(
                    "{} / {}",
                    path.file_name().unwrap().to_string_lossy(),
                    panel["title"]
                );
                out.push((name, expr));
            }
        }
    }
    assert!(
        out.len() >= 30,
        "the dashboards have their panels: {}",
        out.len()
    );
    out
}

fn metric_names(exprs: &[(String, String)]) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\b(digit_user_[a-z0-9_]+|up)\b").unwrap();
    exprs
        .iter()
        .flat_map(|(_, e)| {
            re.find_iter(e)
                .map(|m| m.as_str().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_dashboard_and_alert_metric_exists_in_prometheus_and_every_expression_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let kafka = Broker::start();
    kafka.create_topic(AUDIT_TOPIC, broker::PARTITIONS as u32);
    let mut env = journaled_env(&kafka.address());
    env.extend([
        ("DIGIT_USER__AUDIT__KAFKA_TOPIC", AUDIT_TOPIC.to_owned()),
        ("DIGIT_USER__LOCKOUT__MAX_INVALID_ATTEMPTS", "2".to_owned()),
        ("DIGIT_USER__TOKENS__REFRESH_GRACE_SECS", "0".to_owned()),
        ("DIGIT_USER__OTP__TTL_SECS", "4".to_owned()),
        ("DIGIT_USER__OTP__RESEND_COOLDOWN_SECS", "0".to_owned()),
    ]);
    let app = Process::start(&dir.path().join("data"), &env).unwrap();
    assert!(app.wait_ready(std::time::Duration::from_secs(60)), "ready");
    workload(&app.base, &kafka.address());
    let public = client()
        .get(format!("{}/metrics", app.base))
        .send()
        .unwrap();
    assert_eq!(
        public.status().as_u16(),
        404,
        "/metrics is on the internal listener only"
    );
    let target = app.internal.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(dir.path(), &target);
    // the upkeep sampled the storage; the 4 s code nobody used expired (its timer fired)
    prometheus.wait_for("digit_user_storage_bytes > 0");
    prometheus.wait_for("digit_user_otp_expired_total > 0");
    prometheus.wait_for("digit_user_audit_published_total > 0");

    // the alert rules Prometheus loaded: all healthy after evaluating against real series
    let rules = prometheus.evaluated_rules();
    let mut exprs = dashboard_exprs();
    let mut rule_count = 0;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            rule_count += 1;
            assert_eq!(
                rule["health"], "ok",
                "{}: {}",
                rule["name"], rule["lastError"]
            );
            exprs.push((
                format!("alert {}", rule["name"]),
                rule["query"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let written = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dashboards/alerts.yaml"
    ))
    .unwrap()
    .lines()
    .filter(|l| l.trim_start().starts_with("- alert:"))
    .count();
    assert!(written >= 12);
    assert_eq!(rule_count, written, "every rule of alerts.yaml is loaded");

    let mut missing = Vec::new();
    for name in metric_names(&exprs) {
        let found = prometheus.query(&format!("count({{__name__=\"{name}\"}})"));
        if found["data"]["result"].as_array().is_none_or(Vec::is_empty) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "referenced but not exported: {missing:?}"
    );
    for (name, expr) in &exprs {
        let result = prometheus.query(expr);
        assert_eq!(result["status"], "success", "{name}: {expr}: {result}");
    }

    // bounded labels only: nothing of the workload's numbers, names or tokens
    let series = prometheus.query("{__name__=~\"digit_user_.*\"}");
    let series = series["data"]["result"].as_array().unwrap();
    assert!(series.len() > 50, "{} series", series.len());
    for s in series {
        for (label, value) in s["metric"].as_object().unwrap() {
            let v = value.as_str().unwrap();
            assert!(
                !v.contains("98765") && !v.contains(EMPLOYEE) && v.len() < 64,
                "label {label}={v} on {}",
                s["metric"]["__name__"]
            );
        }
    }
    let tenants = prometheus.query("count by (tenant) (digit_user_otp_sends_total)");
    let tenants: Vec<&str> = tenants["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"]["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(
        tenants,
        ["pb"],
        "the state tenant, never a city or an invented one"
    );
    assert_eq!(app.stop(Signal::SIGTERM).code(), Some(0));
}
