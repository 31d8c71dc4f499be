//! `ApiError`: the one error type of the HTTP boundary, and how it renders DIGIT's E1 shape
//! (`{"ResponseInfo": null, "Errors": [{code, message, description, params}]}`).
//!
//! Client mistakes are 400 as in DIGIT; a refused gateway role is 403; saturation is 503 (retryable); an
//! internal failure is 500 and tells the client nothing — its cause is logged.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// DIGIT's message for errors coded by exception name.
pub const UNHANDLED: &str = "An unhandled exception occurred on the server";

/// One entry of `Errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEntry {
    /// Machine code clients key on.
    pub code: String,
    /// Message.
    pub message: String,
    /// Detail, or null.
    pub description: Option<String>,
    /// Parameters, or null.
    pub params: Option<Vec<String>>,
}

/// An error answered in DIGIT's E1 shape.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    errors: Vec<ErrorEntry>,
}

#[derive(Serialize)]
struct E1Body<'a> {
    #[serde(rename = "ResponseInfo")]
    response_info: Option<()>,
    #[serde(rename = "Errors")]
    errors: &'a [ErrorEntry],
}

impl ApiError {
    /// A 400 coded by exception name, DIGIT's generic message, and a description.
    pub fn exception(code: &str, description: impl Into<Option<String>>) -> Self {
        Self::one(StatusCode::BAD_REQUEST, code, UNHANDLED, description.into())
    }

    /// A 400 with its own code and message (DIGIT's `CustomException`).
    pub fn custom(code: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::BAD_REQUEST, code, &message.into(), None)
    }

    /// A 400 with several entries.
    pub fn many(errors: Vec<ErrorEntry>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            errors,
        }
    }

    /// A 403: the gateway-marked caller lacks the role.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::FORBIDDEN, code, &message.into(), None)
    }

    /// A 503: saturated or shutting down; the client may retry.
    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::SERVICE_UNAVAILABLE, code, &message.into(), None)
    }

    /// A 500; `cause` is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::one(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "An internal error occurred; it was logged",
            None,
        )
    }

    fn one(status: StatusCode, code: &str, message: &str, description: Option<String>) -> Self {
        Self {
            status,
            errors: vec![ErrorEntry {
                code: code.to_owned(),
                message: message.to_owned(),
                description,
                params: None,
            }],
        }
    }

    /// The entries, for tests and logs.
    pub fn errors(&self) -> &[ErrorEntry] {
        &self.errors
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codes: Vec<&str> = self.errors.iter().map(|e| e.code.as_str()).collect();
        write!(f, "{} {}", self.status.as_u16(), codes.join(","))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(E1Body {
            response_info: None,
            errors: &self.errors,
        })
    }
}
