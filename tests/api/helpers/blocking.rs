//! DIGIT's calls as a blocking client makes them, for tests that drive the real binary ([`super::Process`])
//! and need no runtime of their own. A call that got no answer (the process was killed under it) has status
//! 0.

use serde_json::{Value, json};

use super::BASIC;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// Status and JSON answer of a sent request; status 0 when there was no answer.
fn answer(sent: reqwest::Result<reqwest::blocking::Response>) -> (u16, Value) {
    match sent {
        Ok(resp) => (resp.status().as_u16(), resp.json().unwrap_or(Value::Null)),
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// `_createnovalidate` of an active employee of `pb.amritsar` with password `Abcdef1@`; its status and
/// answer.
pub fn try_create(base: &str, user_name: &str) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}/user/users/_createnovalidate"))
        .json(&json!({"user": {"userName": user_name, "name": "Asha Devi", "mobileNumber": "9876543210",
                               "password": "Abcdef1@", "type": "EMPLOYEE", "tenantId": "pb.amritsar",
                               "active": true, "roles": [{"code": "EMPLOYEE"}]}}))
        .send();
    answer(resp)
}

/// [`try_create`], which must succeed.
pub fn create(base: &str, user_name: &str) {
    let (status, body) = try_create(base, user_name);
    assert_eq!(status, 200, "{body}");
}

/// `POST /user/oauth/token` with `params` as a form and DIGIT's client header.
pub fn token(base: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let resp = client()
        .post(format!("{base}/user/oauth/token"))
        .header("authorization", BASIC)
        .form(params)
        .send();
    answer(resp)
}

/// A password login of an employee of `pb.amritsar`.
pub fn login(base: &str, user_name: &str, password: &str) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "password"),
            ("username", user_name),
            ("password", password),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
        ],
    )
}

/// The refresh grant with `refresh` (a token as a JSON string); its status.
pub fn refresh(base: &str, refresh: &Value) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str().unwrap()),
        ],
    )
}

/// `/user/_details` with `access` (a JSON string); its status.
pub fn details(base: &str, access: &Value) -> u16 {
    client()
        .post(format!("{base}/user/_details"))
        .query(&[("access_token", access.as_str().unwrap())])
        .send()
        .map_or(0, |r| r.status().as_u16())
}

/// `POST path` with a JSON body; status and answer.
pub fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = client().post(format!("{base}{path}")).json(body).send();
    answer(resp)
}
