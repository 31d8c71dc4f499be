//! An import through a running deployment (`admin import --url`): each batch is sent to a pod's internal
//! listener, which stores every user at the pod serving its home — through the journal when it is on
//! (`src/service/import.rs`). A retryable refusal (a partition moving, a pod or the brokers not answering)
//! is sent again after a pause, for [`RETRY_FOR`] at most: a user stored by the first try comes back
//! unchanged from the next.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actors::domain::UserRecord;

use super::run::{ImportError, Written};
use crate::cluster::api::{ImportBatch, ImportOutcome};

/// Users a request carries at most (about 1 KB each, well under the pods' 8 MiB import body cap).
const SEND_AT_MOST: usize = 250;

/// How long a batch is sent again while the deployment answers a retryable refusal.
const RETRY_FOR: Duration = Duration::from_secs(120);

/// The pause between two tries.
const PAUSE: Duration = Duration::from_millis(500);

/// A running deployment's internal listener.
pub struct Remote {
    url: String,
    client: reqwest::Client,
}

impl Remote {
    /// The deployment at `url` (e.g. `http://digit-user-0.digit-user:8081`).
    pub fn new(url: &str) -> Result<Self, ImportError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ImportError::Service {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// Imports `records`, a few hundred per request; what each did, in their order. Users the deployment
    /// tells to come again (their home moving) are sent again alone, for [`RETRY_FOR`] at most.
    pub async fn import(&self, records: &[UserRecord]) -> Result<Vec<Written>, ImportError> {
        let mut written = Vec::with_capacity(records.len());
        for part in records.chunks(SEND_AT_MOST) {
            let mut done: Vec<Option<Written>> = vec![None; part.len()];
            let mut pending: Vec<usize> = (0..part.len()).collect();
            let deadline = Instant::now() + RETRY_FOR;
            while !pending.is_empty() {
                let batch = ImportBatch {
                    users: pending.iter().map(|i| part[*i].clone()).collect(),
                };
                let outcomes: Vec<ImportOutcome> = self.post("/admin/import/users", &batch).await?;
                if outcomes.len() != pending.len() {
                    return Err(self.failed(format!(
                        "{} outcomes for {} users",
                        outcomes.len(),
                        pending.len()
                    )));
                }
                let mut again = Vec::new();
                for (i, outcome) in pending.iter().zip(outcomes) {
                    match outcome.written() {
                        Some(w) => done[*i] = Some(w),
                        None => again.push(*i),
                    }
                }
                if !again.is_empty() {
                    if Instant::now() + PAUSE > deadline {
                        return Err(self.failed(format!(
                            "{} users still not taken after {RETRY_FOR:?} (their homes moving)",
                            again.len()
                        )));
                    }
                    tokio::time::sleep(PAUSE).await;
                }
                pending = again;
            }
            written.extend(done.into_iter().flatten());
        }
        Ok(written)
    }

    /// The users stored under `ids`, wherever they live (password hashes left out).
    pub async fn users(&self, ids: &[i64]) -> Result<HashMap<i64, UserRecord>, ImportError> {
        let mut found = HashMap::new();
        for part in ids.chunks(SEND_AT_MOST) {
            let users: Vec<UserRecord> = self
                .post("/admin/import/_users", &serde_json::json!({ "ids": part }))
                .await?;
            found.extend(users.into_iter().map(|u| (u.id, u)));
        }
        Ok(found)
    }

    /// POSTs `body` and reads the JSON answer, trying again on a retryable refusal for [`RETRY_FOR`].
    async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ImportError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.failed(e.to_string()))?;
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            let sent = self
                .client
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send()
                .await;
            let retry = match sent {
                Ok(resp) if resp.status().is_success() => {
                    let raw = resp.bytes().await.map_err(|e| self.failed(e.to_string()))?;
                    return serde_json::from_slice(&raw).map_err(|e| self.failed(e.to_string()));
                }
                Ok(resp) if resp.status().as_u16() == 503 => {
                    format!("503 {}", error_code(resp).await)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    return Err(self.failed(format!("{status} {}", error_code(resp).await)));
                }
                Err(e) if e.is_connect() || e.is_timeout() => e.to_string(),
                Err(e) => return Err(self.failed(e.to_string())),
            };
            if Instant::now() + PAUSE > deadline {
                return Err(self.failed(format!("still refused after {RETRY_FOR:?}: {retry}")));
            }
            tokio::time::sleep(PAUSE).await;
        }
    }

    fn failed(&self, reason: String) -> ImportError {
        ImportError::Service {
            url: self.url.clone(),
            reason,
        }
    }
}

/// The error code an error answer names (never its whole body).
async fn error_code(resp: reqwest::Response) -> String {
    let body: serde_json::Value = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    body["Errors"][0]["code"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .unwrap_or("")
        .to_owned()
}
