//! The citizen's and the employee's own account on the wire: `/user/citizen/_create` (self-registration with
//! the OTP, answered with tokens), `/user/password/_update` (logged in) and `/user/password/nologin/_update`
//! (forgot password, with the OTP). The use cases are `service::account`'s; here the bodies are read and the
//! answers and errors written as DIGIT's.

use actix_web::{HttpRequest, HttpResponse, web};
use actors::domain::otp::Purpose;
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::error::domain::{busy, password_change_refused, store_failed, validation_failed};
use super::json::{LowerJson, deserialize_at, opt_string, require};
use super::oauth::token_response;
use super::request_info::RequestInfoIn;
use super::uniform::UniformAnswer;
use super::user_json::{ResponseInfo, UsersResponse, View};
use super::users::parse;
use crate::http::state::AppState;
use crate::service::account::{PasswordChange, PasswordChangeError, Registered, RegistrationError};
use crate::service::login::Credential;
use crate::service::otp::OtpError;

/// `POST /user/citizen/_create`
#[utoipa::path(
    post,
    path = "/user/citizen/_create",
    tag = "users",
    summary = "A citizen registers with the OTP sent for registration, and is logged in",
    request_body = crate::http::openapi::schemas::UserRequest,
    responses(
        (status = 200, description = "The tokens (or, with login.register_with_login off, the user)", body = crate::http::openapi::auth::TokenResponse),
        (status = 400, description = "Refused (E1); a wrong OTP answers OTP.VALIDATION_UNSUCCESSFUL in E2", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn citizen_create(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let parsed = parse(&req, body)?;
    match state
        .accounts
        .register_citizen(
            parsed.draft,
            &parsed.caller,
            super::request_info::client_ip(&req, &state),
        )
        .await
    {
        Ok(Registered::LoggedIn(issued)) => Ok(token_response(&issued)),
        Ok(Registered::User(user)) => {
            Ok(HttpResponse::Ok().json(UsersResponse::new(&[*user], View::Created)))
        }
        Err(RegistrationError::UserNameNotValid) => {
            Err(ApiError::exception("UserNameNotValidException", None))
        }
        Err(RegistrationError::Missing(field)) => Err(ApiError::exception(
            "InvalidUserCreateException",
            Some(match field {
                "password" => {
                    "password is mandatory when citizens log in with a password".to_owned()
                }
                other => format!("{other} is mandatory"),
            }),
        )),
        Err(RegistrationError::Registry(e)) => Err(e.into()),
        Err(RegistrationError::OtpInvalid) => Err(validation_failed()),
        Err(RegistrationError::Busy) => Err(busy()),
        Err(RegistrationError::Login(e)) => Err(ApiError::custom(
            "LOGIN_ERROR",
            format!("Error occurred while logging in via register flow: {e}"),
        )),
        // the code's session moved pods while it was spent (its write fenced), or the journal is away: a
        // retryable 503, which the routing serves again at the next owner
        Err(RegistrationError::Otp(OtpError::Store(e))) => Err(store_failed(e)),
        Err(e @ RegistrationError::Otp(_)) => Err(ApiError::internal(&e)),
    }
}

/// The body of both password endpoints (keys folded to lower case).
#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordIn {
    requestinfo: Value,
    #[serde(deserialize_with = "opt_string")]
    existingpassword: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    newpassword: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    otpreference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    username: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    tenantid: Option<String>,
    #[serde(rename = "type", deserialize_with = "opt_string")]
    user_type: Option<String>,
}

fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn password_response() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"responseInfo": ResponseInfo {
        api_id: None, ver: None, ts: None, res_msg_id: None, msg_id: None, status: "200",
    }}))
}

/// `POST /user/password/_update`: the user is the one of `RequestInfo.authToken` when given (verified),
/// else `RequestInfo.userInfo.userName` as the gateway set it.
#[utoipa::path(
    post,
    path = "/user/password/_update",
    tag = "password",
    summary = "A logged-in user changes their password",
    request_body = crate::http::openapi::auth::PasswordRequest,
    responses(
        (status = 200, description = "Changed; the user's other sessions ended", body = crate::http::openapi::schemas::PasswordChanged),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn update(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: PasswordIn = deserialize_at(require(body)?, "")?;
    let info: RequestInfoIn = match input.requestinfo {
        Value::Null => RequestInfoIn::default(),
        v => deserialize_at(v, "RequestInfo")?,
    };
    let session = match given(info.authtoken.clone()) {
        Some(token) => Some(state.login.sessions().verify(&token).map_err(|_| {
            ApiError::exception(
                "InvalidAccessTokenException",
                Some("Invalid Access Token Exception".to_owned()),
            )
        })?),
        None => None,
    };
    let user_name = session
        .as_ref()
        .map(|v| v.snapshot.user_name.clone())
        .or_else(|| given(info.userinfo.and_then(|u| u.username)));
    let (Some(user_name), Some(existing), Some(new), Some(tenant), Some(user_type)) = (
        user_name,
        given(input.existingpassword),
        given(input.newpassword),
        given(input.tenantid),
        given(input.user_type),
    ) else {
        return Err(ApiError::exception(
            "InvalidLoggedInUserUpdatePasswordRequestException",
            None,
        ));
    };
    let mismatch = ApiError::exception(
        "PasswordMismatchException",
        Some("Invalid username or password".to_owned()),
    );
    let change = PasswordChange {
        tenant: &tenant,
        user_type: &user_type,
        user_name: &user_name,
        session: session
            .as_ref()
            .map(|v| (v.snapshot.uuid.as_str(), v.family.as_str())),
        credential: Credential::Password(Zeroizing::new(existing)),
        new: Zeroizing::new(new),
        source: super::request_info::client_ip(&req, &state),
    };
    match state.accounts.change_password(change).await {
        Ok(()) => Ok(password_response()),
        Err(e) => Err(password_change_refused(e, mismatch)),
    }
}

/// `POST /user/password/nologin/_update`: the OTP (purpose passwordreset) sent to the user's stored mobile
/// number proves the user.
#[utoipa::path(
    post,
    path = "/user/password/nologin/_update",
    tag = "password",
    summary = "A password reset with the OTP sent for it",
    request_body = crate::http::openapi::auth::PasswordRequest,
    responses(
        (status = 200, description = "Changed; every session of the user ended", body = crate::http::openapi::schemas::PasswordChanged),
        (status = 400, description = "Refused (E1); a wrong OTP answers OTP.VALIDATION_UNSUCCESSFUL in E2", body = crate::http::openapi::schemas::TracerOrLegacy),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn reset(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: PasswordIn = deserialize_at(require(body)?, "")?;
    let (Some(otp), Some(user_name), Some(new), Some(tenant), Some(user_type)) = (
        given(input.otpreference),
        given(input.username),
        given(input.newpassword),
        given(input.tenantid),
        given(input.user_type),
    ) else {
        return Err(ApiError::exception(
            "InvalidNonLoggedInUserUpdatePasswordRequestException",
            None,
        ));
    };
    let change = PasswordChange {
        tenant: &tenant,
        user_type: &user_type,
        user_name: &user_name,
        session: None,
        credential: Credential::Otp(Zeroizing::new(otp), Purpose::PasswordReset),
        new: Zeroizing::new(new),
        source: super::request_info::client_ip(&req, &state),
    };
    let envelope = UniformAnswer::open(&state.settings.security);
    let changed = match state.accounts.change_password(change).await {
        // whether the user exists, logs in with an OTP or is locked is the account's business
        Err(
            PasswordChangeError::NotFound
            | PasswordChangeError::OtpLoginUser
            | PasswordChangeError::Locked,
        ) if envelope.uniform() => Err(PasswordChangeError::WrongCredential),
        changed => changed,
    };
    if changed.is_err() {
        envelope.close().await;
    }
    match changed {
        Ok(()) => Ok(password_response()),
        Err(e) => Err(password_change_refused(e, validation_failed())),
    }
}
