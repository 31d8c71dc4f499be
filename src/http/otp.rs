//! `/user-otp/v1/_send` (public), `/otp/v1/_validate` (public), `/otp/v1/_create` and `/otp/v1/_search`
//! (internal listener only): DIGIT's `{"RequestInfo", "otp"}` bodies, E2 errors, and never a code on
//! `_search`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::domain::messages::locale_from_msg_id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::domain::{otp_failed, otp_send_refused};
use super::error::{ApiError, FieldError};
use super::json::{LowerJson, deserialize_at, opt_string, require};
use super::request_info::RequestInfoIn;
use super::uniform::UniformAnswer;
use crate::http::state::AppState;
use crate::service::otp::SendRequest;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope {
    requestinfo: Value,
    otp: Value,
}

/// The `otp` object of every OTP request (keys folded to lower case).
#[derive(Deserialize, Default)]
#[serde(default)]
struct OtpIn {
    #[serde(deserialize_with = "opt_string")]
    identity: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    tenantid: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    otp: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    uuid: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    mobilenumber: Option<String>,
    #[serde(rename = "type", deserialize_with = "opt_string")]
    send_type: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    usertype: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    countrycode: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    locale: Option<String>,
}

/// The body of an OTP request; a body that cannot be read or bound is refused in the E2 shape under
/// `message`, like every other error of these endpoints.
fn parse(
    body: Result<LowerJson, ApiError>,
    message: &str,
) -> Result<(RequestInfoIn, OtpIn), ApiError> {
    let bound = || -> Result<_, ApiError> {
        let envelope: Envelope = deserialize_at(require(body?)?, "")?;
        let info = match envelope.requestinfo {
            Value::Null => RequestInfoIn::default(),
            v => deserialize_at(v, "RequestInfo")?,
        };
        let otp = match envelope.otp {
            Value::Null => OtpIn::default(),
            v => deserialize_at(v, "otp")?,
        };
        Ok((info, otp))
    };
    bound().map_err(|e| e.into_legacy(message, "otp"))
}

/// The E2 `message` of a request refused before its rules were checked.
const SEND_INVALID: &str = "Invalid OTP request";
const CREATE_INVALID: &str = SEND_INVALID;
const VALIDATE_INVALID: &str = "Invalid OTP validation request";
const SEARCH_INVALID: &str = "Invalid OTP search request";

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// egov-otp's token representation, in its field order.
#[derive(Serialize)]
struct TokenOut<'a> {
    otp: Option<&'a str>,
    #[serde(rename = "UUID")]
    uuid: &'a str,
    identity: &'a str,
    #[serde(rename = "tenantId")]
    tenant_id: &'a str,
    #[serde(rename = "isValidationSuccessful")]
    is_validation_successful: bool,
}

fn token_response(status: StatusCode, token: TokenOut<'_>) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({"responseInfo": null, "otp": token}))
}

fn mandatory(message: &str, otp: &OtpIn, with_otp: bool) -> Result<(), ApiError> {
    let mut fields = Vec::new();
    if given(&otp.tenantid).is_none() {
        fields.push(FieldError::new(
            "OTP.TENANT_ID_MANDATORY",
            "Tenant field is mandatory",
            "otp.tenantId",
        ));
    }
    if given(&otp.identity).is_none() {
        fields.push(FieldError::new(
            "OTP.IDENTITY_MANDATORY",
            "Identity field is mandatory",
            "otp.identity",
        ));
    }
    if with_otp && given(&otp.otp).is_none() {
        fields.push(FieldError::new(
            "OTP.OTP_MANDATORY",
            "Otp field is mandatory",
            "otp.otp",
        ));
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::legacy(StatusCode::BAD_REQUEST, message, fields))
    }
}

fn sizes(otp: &OtpIn) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for (field, value, max) in [
        ("identity", &otp.identity, 100),
        ("tenantId", &otp.tenantid, 256),
    ] {
        if value.as_deref().is_some_and(|v| v.chars().count() > max) {
            errors.push(super::error::ErrorEntry {
                code: format!("Size.otpRequest.otp.{field}"),
                message: format!("size must be between 0 and {max}"),
                description: None,
                params: None,
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::many(errors))
    }
}

/// `POST /user-otp/v1/_send`
#[utoipa::path(
    post,
    path = "/user-otp/v1/_send",
    tag = "otp",
    summary = "Sends an OTP for registration, login or a password reset",
    request_body = crate::http::openapi::auth::OtpSendRequest,
    responses(
        (status = 201, description = "Sent (or a live code held)", body = crate::http::openapi::auth::OtpSent),
        (status = 400, description = "Invalid OTP request; unknown or registered number", body = crate::http::openapi::schemas::LegacyError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::LegacyError),
        (status = 429, description = "Too many requests (`Retry-After`, `error_description`)", body = crate::http::openapi::schemas::LegacyError),
        (status = 503, description = "OTP service unavailable (E2); the routing 503s (E1)", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn send(
    req: HttpRequest,
    body: Result<LowerJson, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (info, otp) = parse(body, SEND_INVALID)?;
    let locale = info
        .msgid
        .as_deref()
        .and_then(locale_from_msg_id)
        .map(str::to_owned)
        .or(otp.locale.clone());
    let request = SendRequest {
        tenant: otp.tenantid,
        mobile: otp.mobilenumber,
        send_type: otp.send_type,
        user_type: otp.usertype,
        country_code: otp.countrycode,
        locale,
    };
    let ip = super::request_info::client_ip(&req, &state);
    let envelope = UniformAnswer::open(&state.settings.security);
    let sent = match state.otp.send(request, ip).await {
        Err(e) if envelope.uniform() && e.reveals_account() => Ok(()),
        sent => sent,
    };
    envelope.close().await;
    sent.map_err(otp_send_refused)?;
    Ok(HttpResponse::Created()
        .json(serde_json::json!({"responseInfo": null, "isSuccessful": true})))
}

/// `POST /otp/v1/_create` (internal)
#[utoipa::path(
    post,
    path = "/otp/v1/_create",
    tag = "otp",
    summary = "Creates a code without sending it (internal listener)",
    request_body = crate::http::openapi::auth::OtpRequest,
    responses(
        (status = 201, description = "The code", body = crate::http::openapi::auth::OtpTokenResponse),
        (status = 400, description = "Invalid OTP request (E2); Size.otpRequest.* (E1)", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::LegacyError),
        (status = 503, description = "OTP service unavailable (E2); the routing 503s (E1)", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn create(
    body: Result<LowerJson, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_, otp) = parse(body, CREATE_INVALID)?;
    sizes(&otp)?;
    mandatory(CREATE_INVALID, &otp, false)?;
    let (identity, tenant) = (
        given(&otp.identity).unwrap_or_default(),
        given(&otp.tenantid).unwrap_or_default(),
    );
    let created = state
        .otp
        .create(identity, tenant)
        .await
        .map_err(otp_failed)?;
    let uuid = created.live.token_id.to_string();
    Ok(token_response(
        StatusCode::CREATED,
        TokenOut {
            otp: Some(&created.code),
            uuid: &uuid,
            identity,
            tenant_id: &created.tenant,
            is_validation_successful: false,
        },
    ))
}

/// `POST /otp/v1/_validate`
#[utoipa::path(
    post,
    path = "/otp/v1/_validate",
    tag = "otp",
    summary = "Checks (and spends) a code",
    request_body = crate::http::openapi::auth::OtpRequest,
    responses(
        (status = 200, description = "Valid", body = crate::http::openapi::auth::OtpTokenResponse),
        (status = 400, description = "Invalid OTP validation request; OTP validation unsuccessful (E2); Size.otpRequest.* (E1)", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::LegacyError),
        (status = 503, description = "OTP service unavailable (E2); the routing 503s (E1)", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn validate(
    req: HttpRequest,
    body: Result<LowerJson, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_, otp) = parse(body, VALIDATE_INVALID)?;
    sizes(&otp)?;
    mandatory(VALIDATE_INVALID, &otp, true)?;
    let (identity, tenant, code) = (
        given(&otp.identity).unwrap_or_default(),
        given(&otp.tenantid).unwrap_or_default(),
        given(&otp.otp).unwrap_or_default(),
    );
    let (token, state_tenant) = state
        .otp
        .validate(
            identity,
            tenant,
            code,
            None,
            super::request_info::client_ip(&req, &state),
        )
        .await
        .map_err(otp_failed)?;
    Ok(token_response(
        StatusCode::OK,
        TokenOut {
            otp: Some(code),
            uuid: &token,
            identity,
            tenant_id: &state_tenant,
            is_validation_successful: true,
        },
    ))
}

/// `POST /otp/v1/_search` (internal): never returns the code or its hash.
#[utoipa::path(
    post,
    path = "/otp/v1/_search",
    tag = "otp",
    summary = "A code's token by its id, never the code (internal listener)",
    request_body = crate::http::openapi::auth::OtpRequest,
    responses(
        (status = 200, description = "The token, or `otp: null`", body = crate::http::openapi::auth::OtpTokenResponse),
        (status = 400, description = "Invalid OTP search request", body = crate::http::openapi::schemas::LegacyError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::LegacyError),
        (status = 503, description = "OTP service unavailable (E2); the routing 503s (E1)", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn search(
    body: Result<LowerJson, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_, otp) = parse(body, SEARCH_INVALID)?;
    let found = match given(&otp.uuid) {
        Some(uuid) => state
            .otp
            .search(uuid)
            .await
            .map_err(otp_failed)?
            .map(|f| (uuid.to_owned(), f)),
        None => None,
    };
    Ok(match found {
        Some((uuid, (owner, validated))) => token_response(
            StatusCode::OK,
            TokenOut {
                otp: None,
                uuid: &uuid,
                identity: &owner.identity,
                tenant_id: &owner.tenant,
                is_validation_successful: validated,
            },
        ),
        None => HttpResponse::Ok().json(serde_json::json!({"responseInfo": null, "otp": null})),
    })
}
