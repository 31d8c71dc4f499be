//! Talking to the other pods over their internal listeners: forwarding a request as it came, and the
//! cluster's own JSON calls (fan-out search, revocations, OTP checks, partition moves).
//!
//! Every call is bounded by `cluster.forward_timeout_ms`; a pod that does not answer in time is reported as
//! unavailable, never waited on longer. Nothing here logs a body.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::group::Routes;
use super::{CLIENT_IP, FORWARDED, peer_addr};
use crate::config::ClusterSettings;

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No answer in time, or no connection.
    #[error("pod {ordinal} is unreachable: {reason}")]
    Unreachable {
        /// The pod.
        ordinal: u16,
        /// Why (connection refused, timeout).
        reason: String,
    },
    /// It answered with an error status.
    #[error("pod {ordinal} answered {status}")]
    Status {
        /// The pod.
        ordinal: u16,
        /// The status.
        status: u16,
    },
    /// It answered something that does not parse.
    #[error("pod {ordinal} answered an unreadable body: {reason}")]
    Body {
        /// The pod.
        ordinal: u16,
        /// Why.
        reason: String,
    },
}

/// A request to relay to the owner, as it came.
pub struct Outgoing<'a> {
    /// Method.
    pub method: &'a Method,
    /// Path and query string.
    pub path_and_query: &'a str,
    /// Headers as received.
    pub headers: &'a actix_web::http::header::HeaderMap,
    /// The client address this pod saw.
    pub client_ip: Option<std::net::IpAddr>,
    /// Body.
    pub body: Bytes,
}

/// A response relayed from the owner.
pub struct Relayed {
    /// Status.
    pub status: StatusCode,
    /// Headers, hop-by-hop ones removed.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Bytes,
}

/// The HTTP client for the other pods.
pub struct Peers {
    client: reqwest::Client,
    settings: ClusterSettings,
    /// Under a group, the addresses the pods announced (before the configured ones).
    routes: Option<Arc<Routes>>,
}

/// Headers that describe one connection, not the request; never relayed.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "host",
    "content-length",
];

impl Peers {
    /// A client whose every call ends within `timeout`, finding pods by `routes` when given.
    pub fn new(settings: ClusterSettings, timeout: Duration, routes: Option<Arc<Routes>>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        Self {
            client,
            settings,
            routes,
        }
    }

    fn url(&self, ordinal: u16, path_and_query: &str) -> String {
        let announced = self.routes.as_ref().and_then(|r| r.address(ordinal));
        let address = announced.unwrap_or_else(|| peer_addr(&self.settings, ordinal));
        format!("http://{address}{path_and_query}")
    }

    fn unreachable(ordinal: u16, e: &reqwest::Error) -> PeerError {
        PeerError::Unreachable {
            ordinal,
            reason: if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                e.to_string()
            },
        }
    }

    /// Sends a request to pod `ordinal` as it came (method, path, query, headers, body) with the forwarded
    /// mark, and returns its answer whatever the status.
    pub async fn forward(
        &self,
        ordinal: u16,
        from: u16,
        out: Outgoing<'_>,
    ) -> Result<Relayed, PeerError> {
        let Outgoing {
            method,
            path_and_query,
            headers,
            client_ip,
            body,
        } = out;
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .expect("an HTTP method parsed by actix is valid");
        let mut req = self
            .client
            .request(method, self.url(ordinal, path_and_query))
            .header(FORWARDED, from.to_string())
            .body(body);
        for (name, value) in headers {
            if !HOP_BY_HOP.contains(&name.as_str())
                && name.as_str() != FORWARDED
                && name.as_str() != CLIENT_IP
            {
                req = req.header(name.as_str(), value.as_bytes());
            }
        }
        if let Some(ip) = client_ip {
            req = req.header(CLIENT_IP, ip.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Self::unreachable(ordinal, &e))?;
        let status = StatusCode::from_u16(resp.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp
            .headers()
            .iter()
            .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        let body = resp
            .bytes()
            .await
            .map_err(|e| Self::unreachable(ordinal, &e))?;
        Ok(Relayed {
            status,
            headers,
            body,
        })
    }

    /// POSTs `body` as JSON to a cluster endpoint of pod `ordinal` and reads its JSON answer.
    pub async fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        ordinal: u16,
        from: u16,
        path: &str,
        body: &B,
    ) -> Result<R, PeerError> {
        Ok(self.call_reading(ordinal, from, path, body, None).await?.0)
    }

    /// [`Peers::call`], also reading the answer's `header` (`None` when absent or not text).
    pub async fn call_reading<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        ordinal: u16,
        from: u16,
        path: &str,
        body: &B,
        header: Option<&str>,
    ) -> Result<(R, Option<String>), PeerError> {
        let bytes = serde_json::to_vec(body).map_err(|e| PeerError::Body {
            ordinal,
            reason: e.to_string(),
        })?;
        let resp = self
            .post(ordinal, from, path, bytes, "application/json")
            .await?;
        let value = header
            .and_then(|h| resp.headers().get(h))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let raw = resp
            .bytes()
            .await
            .map_err(|e| Self::unreachable(ordinal, &e))?;
        let answer = serde_json::from_slice(&raw).map_err(|e| PeerError::Body {
            ordinal,
            reason: e.to_string(),
        })?;
        Ok((answer, value))
    }

    /// POSTs raw bytes to a cluster endpoint of pod `ordinal`; its answer's bytes on a 2xx.
    pub async fn call_bytes(
        &self,
        ordinal: u16,
        from: u16,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<Bytes, PeerError> {
        self.post(ordinal, from, path, body, content_type)
            .await?
            .bytes()
            .await
            .map_err(|e| Self::unreachable(ordinal, &e))
    }

    /// POSTs to a cluster endpoint of pod `ordinal`; its answer when 2xx.
    async fn post(
        &self,
        ordinal: u16,
        from: u16,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<reqwest::Response, PeerError> {
        let mut req = self
            .client
            .post(self.url(ordinal, path))
            .header(FORWARDED, from.to_string())
            .header("content-type", content_type);
        // a call made while serving a request carries its correlation id, as DIGIT's tracer does
        if let Some(id) = crate::telemetry::correlation_id() {
            req = req.header(crate::telemetry::CORRELATION_HEADER, id.as_ref());
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| Self::unreachable(ordinal, &e))?;
        if !resp.status().is_success() {
            return Err(PeerError::Status {
                ordinal,
                status: resp.status().as_u16(),
            });
        }
        Ok(resp)
    }
}
