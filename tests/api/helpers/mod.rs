//! `spawn_app()`: the service in-process on port 0 with a temp data dir; `Process`: the real binary, for
//! restarts and kills.

use std::path::Path;

use digit_user::config::{MapEnv, Overrides, Settings};
use digit_user::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Settings for tests: loopback port 0, cheap argon2, `data_dir` as given.
pub fn test_settings(data_dir: &Path) -> Settings {
    let overrides = Overrides {
        data_dir: Some(data_dir.to_owned()),
        public_addr: Some("127.0.0.1:0".into()),
        internal_addr: Some("127.0.0.1:0".into()),
        config_file: None,
    };
    let mut s = Settings::load_from(&overrides, Path::new("/nonexistent"), &MapEnv::default())
        .expect("test settings");
    s.hasher.memory_kib = 256;
    s.hasher.iterations = 1;
    s.http.workers = 2;
    s
}

/// A running in-process service.
pub struct TestApp {
    /// `http://127.0.0.1:<public port>`
    pub public: String,
    /// `http://127.0.0.1:<internal port>`
    pub internal: String,
    /// The data dir.
    pub data_dir: std::path::PathBuf,
    /// The running service's store.
    pub store: std::sync::Arc<actors::store::Store>,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// Starts the service with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the service after `tweak` adjusted its settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_at(actors::Clock::System, tweak).await
}

/// Starts the service on `clock` (a manual clock lets a test move time) after `tweak`.
pub async fn spawn_app_at(clock: actors::Clock, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
    let app = Application::build(settings, &MapEnv::default(), clock).expect("build the app");
    let public = format!("http://{}", app.public_addr());
    let internal = format!("http://{}", app.internal_addr());
    let store = app.store();
    actix_web::rt::spawn(app.run_until(std::future::pending()));
    TestApp {
        public,
        internal,
        data_dir: dir.path().to_owned(),
        store,
        _dir: dir,
        // a browser-like client: its User-Agent is what the audit trail records of a login
        client: reqwest::Client::builder()
            .user_agent("digit-user-tests/1.0")
            .build()
            .unwrap(),
    }
}

impl TestApp {
    /// POSTs JSON to the public listener as an inter-service call.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(&self.public, path, body, false).await
    }

    /// POSTs JSON marked as forwarded by the gateway.
    pub async fn post_gateway(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(&self.public, path, body, true).await
    }

    /// POSTs raw bytes.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.public))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON and returns the raw response text (for key order).
    pub async fn post_text(&self, path: &str, body: &Value) -> String {
        self.client
            .post(format!("{}{path}", self.public))
            .json(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// POSTs JSON to the internal listener.
    pub async fn post_internal(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(&self.internal, path, body, false).await
    }

    /// POSTs JSON with extra headers, returning the response headers too.
    pub async fn post_with_headers(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.public))
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.json().await.unwrap_or(Value::Null))
    }

    /// `/otp/v1/_validate` of `code` for `mobile` in `tenant`.
    pub async fn validate_otp(
        &self,
        mobile: &str,
        tenant: &str,
        code: &str,
    ) -> (StatusCode, Value) {
        self.post(
            "/otp/v1/_validate",
            &json!({"otp": {"otp": code, "identity": mobile, "tenantId": tenant}}),
        )
        .await
    }

    /// The notifications delivered to the file sink so far.
    pub fn notifications(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data_dir.join("notifications.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every notification queued so far, once delivered: waits until the outbox is empty (a send's records are
    /// in it before the answer, so nothing queued is missed), then reads the sink's file.
    pub async fn settled_notifications(&self) -> Vec<Value> {
        for _ in 0..500 {
            if self.store.outbox().depth() == 0 {
                return self.notifications();
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the outbox did not drain in 5 s");
    }

    /// Waits until at least `n` notifications were delivered and returns them.
    pub async fn wait_notifications(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let all = self.notifications();
            if all.len() >= n {
                return all;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "fewer than {n} notifications after 3 s: {:?}",
            self.notifications()
        );
    }

    /// GETs a path of the internal listener.
    pub async fn get_internal(&self, path: &str) -> StatusCode {
        self.internal_get(path).await.status()
    }

    async fn internal_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.internal))
            .send()
            .await
            .unwrap()
    }

    async fn send(
        &self,
        base: &str,
        path: &str,
        body: &Value,
        gateway: bool,
    ) -> (StatusCode, Value) {
        let mut req = self.client.post(format!("{base}{path}")).json(body);
        if gateway {
            req = req.header("x-pass-through-gateway", "true");
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Creates a user through `_createnovalidate` as an inter-service call.
    pub async fn try_create(&self, user: Value) -> (StatusCode, Value) {
        self.post(
            "/user/users/_createnovalidate",
            &json!({"RequestInfo": {}, "user": user}),
        )
        .await
    }

    /// Creates a user through `_createnovalidate` and returns it; panics unless 200.
    pub async fn create(&self, user: Value) -> Value {
        let (status, body) = self
            .post(
                "/user/users/_createnovalidate",
                &json!({"RequestInfo": {}, "user": user}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["user"][0].clone()
    }

    /// Inter-service `/user/v1/_search`.
    pub async fn search_v1(&self, criteria: Value) -> Vec<Value> {
        let (status, body) = self.post("/user/v1/_search", &criteria).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["user"].as_array().unwrap().clone()
    }
}

/// DIGIT's client header: `egov-user-client` with an empty secret.
pub const BASIC: &str = "Basic ZWdvdi11c2VyLWNsaWVudDo=";

/// How `/user/oauth/token` parameters travel.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// All in the query string with an empty body (the DIGIT web UI).
    Query,
    /// A form body (the mGramSeva app, curl).
    Form,
}

/// The form of a password-grant login as DIGIT's web UI sends it.
fn password_form<'a>(
    user_name: &'a str,
    password: &'a str,
    tenant: &'a str,
    user_type: &'a str,
) -> [(&'static str, &'a str); 6] {
    [
        ("grant_type", "password"),
        ("username", user_name),
        ("password", password),
        ("tenantId", tenant),
        ("userType", user_type),
        ("scope", "read"),
    ]
}

impl TestApp {
    /// `digit-user admin <args> --url <this app's internal listener>`, off the test's runtime thread;
    /// standard output as lines, after asserting it succeeded.
    pub async fn admin(&self, args: &[&str]) -> Vec<String> {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_digit-user"));
        command
            .arg("admin")
            .args(args)
            .args(["--url", &self.internal]);
        let out = actix_web::rt::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "admin {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.lines().map(str::to_owned).collect()
    }

    /// `POST /user/oauth/token` with `params` and DIGIT's client header.
    pub async fn token(&self, params: &[(&str, &str)], via: Via) -> (StatusCode, Value) {
        let (status, _, body) = self.token_with(params, via, Some(BASIC)).await;
        (status, body)
    }

    /// `POST /user/oauth/token` with an explicit `Authorization` header (or none), returning the headers.
    pub async fn token_with(
        &self,
        params: &[(&str, &str)],
        via: Via,
        authorization: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let url = format!("{}/user/oauth/token", self.public);
        let mut req = match via {
            Via::Query => self.client.post(url).query(params),
            Via::Form => self.client.post(url).form(params),
        };
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.json().await.unwrap_or(Value::Null))
    }

    /// A password-grant login; the whole answer.
    pub async fn login(
        &self,
        user_name: &str,
        password: &str,
        tenant: &str,
        user_type: &str,
    ) -> (StatusCode, Value) {
        self.token(
            &password_form(user_name, password, tenant, user_type),
            Via::Form,
        )
        .await
    }

    /// A password-grant login from client address `ip` (as a trusted proxy tells it); the whole answer.
    pub async fn login_from(
        &self,
        ip: &str,
        user_name: &str,
        password: &str,
        tenant: &str,
        user_type: &str,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/user/oauth/token", self.public))
            .header("authorization", BASIC)
            .header("x-real-ip", ip)
            .form(&password_form(user_name, password, tenant, user_type))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The internal listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.internal_get("/metrics").await.text().await.unwrap()
    }

    /// `POST /user/_details?access_token=`.
    pub async fn details(&self, access_token: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}/user/_details", self.public))
            .query(&[("access_token", access_token)])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Sends an OTP of `send_type` through `/user-otp/v1/_send` and returns the code from the SMS.
    pub async fn otp_for(
        &self,
        mobile: &str,
        tenant: &str,
        send_type: &str,
        user_type: &str,
    ) -> String {
        let before = self.sms_to(mobile).len();
        let (status, body) = self
            .post(
                "/user-otp/v1/_send",
                &json!({"otp": {"mobileNumber": mobile, "tenantId": tenant, "type": send_type, "userType": user_type}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        for _ in 0..300 {
            let sms = self.sms_to(mobile);
            if sms.len() > before {
                return otp_in(sms.last().unwrap()["payload"]["message"].as_str().unwrap());
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no sms to the number after 3 s");
    }

    pub fn sms_to(&self, mobile: &str) -> Vec<Value> {
        self.notifications()
            .into_iter()
            .filter(|n| n["channel"] == "sms" && n["payload"]["mobileNumber"] == mobile)
            .collect()
    }
}

/// A valid employee with the given userName.
pub fn employee(user_name: &str) -> Value {
    json!({
        "userName": user_name,
        "name": "Asha Devi",
        "mobileNumber": "9876543210",
        "type": "EMPLOYEE",
        "tenantId": "pb.amritsar",
        "active": true,
        "roles": [{"code": "EMPLOYEE"}],
    })
}

/// Asserts that `keys` appear in this order in the first user object of a raw response.
pub fn assert_key_order(raw: &str, keys: &[&str]) {
    let user = &raw[raw.find("\"user\":[").expect("a user array")..];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            user.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing in {raw}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys out of order in {raw}"
    );
}

/// The OTP in an SMS text: the run of digits of the configured length.
pub fn otp_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .expect("a 6-digit code")
        .to_owned()
}

/// The codes of an E2 body's fields.
pub fn e2_codes(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map_or_else(Vec::new, |f| {
            f.iter()
                .map(|e| e["code"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
}

/// The first error code of an E1 body.
pub fn first_code(body: &Value) -> String {
    body["Errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub mod blocking;
#[allow(dead_code)] // the test binaries with a broker use it
pub mod journal;
mod process;
#[allow(unused_imports)] // each test binary uses a part
pub use process::{Process, free_port, raw_sled, run_piped};
