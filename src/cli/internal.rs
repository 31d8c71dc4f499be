//! Calls to a running service's internal listener: what the admin commands that ask a pod share.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// A client for the internal listener (30 s per call).
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// `GET` (or, with `post`, `POST`) `endpoint` with `query`; the JSON answer of a success, else an error
/// naming the endpoint, the status and the answer.
pub async fn call(
    client: &reqwest::Client,
    post: bool,
    endpoint: &str,
    query: &[(&str, String)],
) -> anyhow::Result<Value> {
    let request = match post {
        true => client.post(endpoint),
        false => client.get(endpoint),
    };
    let response = request
        .query(query)
        .send()
        .await
        .with_context(|| format!("asking {endpoint}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("reading {endpoint}'s answer"))?;
    if !status.is_success() {
        bail!("{endpoint} answered {status}: {body}");
    }
    Ok(body)
}

/// The JSON objects of `body[field]`, one a line.
pub fn lines(body: &Value, field: &str) -> String {
    body[field]
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
