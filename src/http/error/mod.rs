//! `ApiError`: the one error type of the HTTP boundary, and how it renders DIGIT's shapes: E1
//! (`{"ResponseInfo": null, "Errors": [{code, message, description, params}]}`), E2 (egov-otp / user-otp),
//! E3 (`/user/oauth/token`: `{"error", "error_description"}`, never cached) and E4 (`/user/_logout`).
//!
//! Client mistakes are 400 as in DIGIT; a refused gateway role is 403; saturation is 503 (retryable); an
//! internal failure is 500 and tells the client nothing — its cause is logged.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub mod domain;

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

/// One entry of the legacy (E2) `error.fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Machine code clients key on (`OTP.VALIDATION_UNSUCCESSFUL`).
    pub code: String,
    /// Message.
    pub message: String,
    /// The request field, e.g. `otp.otp`.
    pub field: String,
}

impl FieldError {
    /// A field error.
    pub fn new(code: &str, message: impl Into<String>, field: &str) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            field: field.to_owned(),
        }
    }
}

#[derive(Debug)]
enum Shape {
    /// E1: `{"ResponseInfo": null, "Errors": [...]}`
    Tracer(Vec<ErrorEntry>),
    /// E2: `{"responseInfo": null, "error": {code, message, description, fields}}`, and a top-level
    /// `error_description` for the screens that read only that key (a refused OTP send).
    Legacy {
        message: String,
        fields: Vec<FieldError>,
        error_description: Option<String>,
    },
    /// E3: `{"error": ..., "error_description": ...}`
    OAuth { error: String, description: String },
    /// E4: `{"ResponseInfo": {... "status": "Logout failed"}, "Error": {...}}`; `Error.code` is the HTTP
    /// status
    Logout {
        ts_ms: i64,
        description: &'static str,
    },
}

/// An error answered in one of DIGIT's shapes: E1 (egov-user) or E2 (egov-otp, user-otp).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    shape: Shape,
    retry_after_secs: Option<u64>,
}

#[derive(Serialize)]
struct E1Body<'a> {
    #[serde(rename = "ResponseInfo")]
    response_info: Option<()>,
    #[serde(rename = "Errors")]
    errors: &'a [ErrorEntry],
}

#[derive(Serialize)]
struct E2Body<'a> {
    #[serde(rename = "responseInfo")]
    response_info: Option<()>,
    error: E2Error<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

#[derive(Serialize)]
struct E2Error<'a> {
    code: u16,
    message: &'a str,
    description: Option<()>,
    fields: &'a [FieldError],
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

    /// A 404 with its own code and message (a thing an operator named that is not there).
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::NOT_FOUND, code, &message.into(), None)
    }

    /// A 400 with several entries.
    pub fn many(errors: Vec<ErrorEntry>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            shape: Shape::Tracer(errors),
            retry_after_secs: None,
        }
    }

    /// An E2 error (egov-otp / user-otp) with `status` (whose number is also `error.code`).
    pub fn legacy(status: StatusCode, message: &str, fields: Vec<FieldError>) -> Self {
        Self {
            status,
            shape: Shape::Legacy {
                message: message.to_owned(),
                fields,
                error_description: None,
            },
            retry_after_secs: None,
        }
    }

    /// Adds to an E2 error a top-level `error_description`: a sentence a screen can show as it is (the DIGIT
    /// web UI's employee screens read only that key, its citizen screens the field messages).
    pub fn with_error_description(mut self, text: impl Into<String>) -> Self {
        if let Shape::Legacy {
            error_description, ..
        } = &mut self.shape
        {
            *error_description = Some(text.into());
        }
        self
    }

    /// An E3 error of the token endpoint (`error` is the OAuth code, e.g. `invalid_request`).
    pub fn oauth(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            shape: Shape::OAuth {
                error: error.to_owned(),
                description: description.into(),
            },
            retry_after_secs: None,
        }
    }

    /// E4: `/user/_logout` failed (HTTP 400); `ts_ms` is the response time.
    pub fn logout_failed(ts_ms: i64) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            shape: Shape::Logout {
                ts_ms,
                description: "Logout failed",
            },
            retry_after_secs: None,
        }
    }

    /// E4 as a retryable 503: the logout was not stored or not published (the journal or the revocations
    /// topic did not confirm); the client's retry makes it.
    pub fn logout_unavailable(ts_ms: i64) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            shape: Shape::Logout {
                ts_ms,
                description: "Logout failed: the service cannot store changes right now; retry shortly",
            },
            retry_after_secs: Some(1),
        }
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// A 403: the gateway-marked caller lacks the role.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::one(StatusCode::FORBIDDEN, code, &message.into(), None)
    }

    /// A 408: the request body did not arrive in time.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::one(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            &message.into(),
            None,
        )
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
            shape: Shape::Tracer(vec![ErrorEntry {
                code: code.to_owned(),
                message: message.to_owned(),
                description,
                params: None,
            }]),
            retry_after_secs: None,
        }
    }

    /// The same error in the E2 shape of egov-otp / user-otp, under `message`: each E1 entry becomes a field
    /// error (its code and message, on the request field `field`); an E2 error stays as it is.
    pub fn into_legacy(self, message: &str, field: &str) -> Self {
        let Shape::Tracer(errors) = self.shape else {
            return self;
        };
        let fields = errors
            .into_iter()
            .map(|e| FieldError {
                message: e.description.unwrap_or(e.message),
                code: e.code,
                field: field.to_owned(),
            })
            .collect();
        Self {
            shape: Shape::Legacy {
                message: message.to_owned(),
                fields,
                error_description: None,
            },
            ..self
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// An error found before the handler ran (a body that could not be read), in the shape of the endpoint
    /// of `path`: E2 for user-otp and egov-otp, E3 for the token endpoint, E4 (stamped `now_ms`) for logout,
    /// E1 for the rest.
    pub fn in_shape_of(self, path: &str, now_ms: i64) -> Self {
        let legacy = match path {
            "/user-otp/v1/_send" | "/otp/v1/_create" => Some("Invalid OTP request"),
            "/otp/v1/_validate" => Some("Invalid OTP validation request"),
            "/otp/v1/_search" => Some("Invalid OTP search request"),
            _ => None,
        };
        if let Some(message) = legacy {
            return self.into_legacy(message, "otp");
        }
        let described = || match &self.shape {
            Shape::Tracer(errors) => errors
                .first()
                .map(|e| e.description.clone().unwrap_or_else(|| e.message.clone()))
                .unwrap_or_default(),
            _ => String::new(),
        };
        match path {
            "/user/oauth/token" => Self::oauth(self.status, "invalid_request", described()),
            "/user/_logout" => Self::logout_failed(now_ms),
            _ => self,
        }
    }

    /// The E1 entries (empty for an E2 error), for tests and logs.
    pub fn errors(&self) -> &[ErrorEntry] {
        match &self.shape {
            Shape::Tracer(errors) => errors,
            _ => &[],
        }
    }

    /// The codes of the error's entries or fields.
    pub fn codes(&self) -> Vec<&str> {
        match &self.shape {
            Shape::Tracer(errors) => errors.iter().map(|e| e.code.as_str()).collect(),
            Shape::Legacy { fields, .. } => fields.iter().map(|f| f.code.as_str()).collect(),
            Shape::OAuth { error, .. } => vec![error.as_str()],
            Shape::Logout { .. } => vec!["Logout failed"],
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.codes().join(","))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        match &self.shape {
            Shape::Tracer(errors) => response.json(E1Body {
                response_info: None,
                errors,
            }),
            Shape::Legacy {
                message,
                fields,
                error_description,
            } => response.json(E2Body {
                response_info: None,
                error: E2Error {
                    code: self.status.as_u16(),
                    message,
                    description: None,
                    fields,
                },
                error_description: error_description.as_deref(),
            }),
            Shape::OAuth { error, description } => {
                no_store(&mut response);
                if self.status == StatusCode::UNAUTHORIZED {
                    response.insert_header((
                        actix_web::http::header::WWW_AUTHENTICATE,
                        format!(r#"Basic realm="oauth2/client", error="{error}""#),
                    ));
                }
                response.json(serde_json::json!({"error": error, "error_description": description}))
            }
            Shape::Logout { ts_ms, description } => response.json(serde_json::json!({
                "ResponseInfo": {"apiId": "", "ver": "", "ts": ts_ms, "resMsgId": "", "msgId": "",
                                 "status": "Logout failed"},
                "Error": {"code": self.status.as_u16(), "message": null, "description": description,
                          "errorFields": null, "fields": {}},
            })),
        }
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: token responses, successful or not, are never cached.
pub fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::PRAGMA, "no-cache"));
}
