//! DIGIT's answers to the use cases' refusals, one function per error and shape: E1 for egov-user's
//! endpoints, E2 for user-otp's and egov-otp's, E3 for the token endpoint. The handlers call these; nothing
//! here decides anything, it only says it as DIGIT's clients expect.

use actix_web::http::StatusCode;
use actors::domain::otp::Throttle;
use actors::domain::roles::RoleError;
use actors::hasher::HasherError;
use actors::store::{CommitError, StoreError};

use super::{ApiError, ErrorEntry, FieldError};
use crate::service::account::PasswordChangeError;
use crate::service::login::LoginError;
use crate::service::otp::{OtpError, SendRule};
use crate::service::registry::RegistryError;

/// Seconds a client is told to wait before retrying a 503 of a moving or unreachable partition.
const RETRY_AFTER_SECS: u64 = 1;

/// The E2 `message` of an OTP request refused before or by its rules.
pub const OTP_INVALID: &str = "Invalid OTP request";

/// An E3 `invalid_request` with `description`.
pub fn oauth_invalid_request(description: &str) -> ApiError {
    ApiError::oauth(StatusCode::BAD_REQUEST, "invalid_request", description)
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::CreateMissing(field) => ApiError::exception(
                "InvalidUserCreateException",
                format!("{field} is mandatory"),
            ),
            RegistryError::UpdateMissing(field) => ApiError::exception(
                "InvalidUserUpdateException",
                format!("{field} is mandatory"),
            ),
            RegistryError::NoRoles => ApiError::exception(
                "AtleastOneRoleCodeException",
                "at least one role code is required".to_owned(),
            ),
            RegistryError::Duplicate => ApiError::exception(
                "DuplicateUserNameException",
                "a user with this userName, type and tenantId already exists".to_owned(),
            ),
            RegistryError::Mobile(m) => ApiError::custom("INVALID_MOBILE_NUMBER", m.message()),
            RegistryError::Password(violations) => ApiError::many(
                violations
                    .into_iter()
                    .map(|v| ErrorEntry {
                        code: v.code.into(),
                        message: v.message,
                        description: None,
                        params: None,
                    })
                    .collect(),
            ),
            RegistryError::Role(RoleError::Unknown { code, state }) => {
                ApiError::many(vec![ErrorEntry {
                    code: "INVALID_ROLE".into(),
                    message: "Unable to validate role from MDMS".into(),
                    description: Some(format!("role {code} is not in the role catalog of {state}")),
                    params: None,
                }])
            }
            RegistryError::Role(e @ RoleError::OtherState { .. }) => {
                ApiError::custom("INVALID_ROLE_TENANT", e.to_string())
            }
            RegistryError::NotFound(uuid) => ApiError::exception(
                "UserNotFoundException",
                format!("User not found for given criteria: uuid={uuid}"),
            ),
            RegistryError::UnknownTenant(tenant) => ApiError::custom(
                "TENANT_UNKNOWN",
                format!("tenantId {tenant} is not a tenant of a state this deployment serves"),
            ),
            RegistryError::ProfileDenied(why) => {
                ApiError::exception("UserProfileUpdateDeniedException", why.to_owned())
            }
            RegistryError::Hasher(HasherError::Busy | HasherError::Timeout) => {
                ApiError::unavailable("SERVICE_BUSY", "The service is saturated; retry shortly")
            }
            RegistryError::Store(StoreError::Journal(e)) => journal_unavailable(&e),
            RegistryError::Store(e) if e.is_retryable() => {
                ApiError::unavailable("SERVICE_BUSY", "The service is saturated; retry shortly")
            }
            RegistryError::Hasher(HasherError::Stopped)
            | RegistryError::Store(StoreError::Commit(CommitError::Closed)) => {
                ApiError::unavailable(
                    "SHUTTING_DOWN",
                    "The service is shutting down; retry on another instance",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

fn throttled(field_message: String, retry_after_ms: i64) -> ApiError {
    let secs = u64::try_from((retry_after_ms + 999) / 1000)
        .unwrap_or(1)
        .max(1);
    ApiError::legacy(
        StatusCode::TOO_MANY_REQUESTS,
        "OTP request refused: too many requests",
        vec![FieldError::new(
            "OTP.RATE_LIMITED",
            format!("{field_message}; retry after {secs} seconds"),
            "otp.mobileNumber",
        )],
    )
    .with_error_description(format!(
        "Too many OTP requests. Please try again after {}.",
        wait_in_words(secs)
    ))
    .retry_after(secs)
}

/// A wait as a person reads it: seconds below a minute, else whole minutes rounded up.
fn wait_in_words(secs: u64) -> String {
    match secs {
        1 => "1 second".to_owned(),
        0..60 => format!("{secs} seconds"),
        60 => "1 minute".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

pub fn otp_send_refused(e: OtpError) -> ApiError {
    let one = |message: &str, code: &str, text: &str| {
        ApiError::legacy(
            StatusCode::BAD_REQUEST,
            message,
            vec![FieldError::new(code, text, "otp.mobileNumber")],
        )
    };
    match e {
        OtpError::InvalidSend(rules, mismatch) => {
            let mut fields: Vec<FieldError> = rules
                .into_iter()
                .map(|rule| match rule {
                    SendRule::TenantMissing => FieldError::new(
                        "OTP.TENANT_ID_MANDATORY",
                        "Tenant field is mandatory",
                        "otp.tenantId",
                    ),
                    SendRule::MobileMissing => FieldError::new(
                        "OTP.MOBILE_NUMBER_MANDATORY",
                        "Mobile number field is mandatory",
                        "otp.mobileNumber",
                    ),
                    SendRule::TypeInvalid => FieldError::new(
                        "OTP.REQUEST_TYPE_MANDATORY",
                        "Request type (register, passwordreset,login) is mandatory",
                        "otp.type",
                    ),
                    SendRule::TenantUnknown => tenant_unknown(),
                    SendRule::CountryNotAllowed(allowed) => FieldError::new(
                        "OTP.MOBILE_NUMBER_VALIDATION_FAILED",
                        format!(
                            "Country code is not allowed for this tenant; allowed: {}",
                            allowed.join(", ")
                        ),
                        "otp.countryCode",
                    ),
                })
                .collect();
            if let Some(pattern) = mismatch {
                fields.push(FieldError::new(
                    "OTP.MOBILE_NUMBER_VALIDATION_FAILED",
                    format!("Mobile number must match the configured pattern: {pattern}"),
                    "otp.mobileNumber",
                ));
            }
            ApiError::legacy(StatusCode::BAD_REQUEST, OTP_INVALID, fields)
        }
        OtpError::AlreadyRegistered => one(
            "OTP request for register failed",
            "OTP.MOBILENUMBER",
            "This MobileNumber Already Register as UserName in System. Pls try Another UserName",
        ),
        OtpError::UnknownCredential => one(
            "OTP request for login failed",
            "OTP.UNKNOWN_CREDENTIAL",
            "No such username or password",
        ),
        OtpError::UnknownMobile => one(
            "OTP request for password reset failed",
            "OTP.UNKNOWN_MOBILE_NUMBER",
            "Mobile number is unknown.",
        ),
        OtpError::NoMobile => one(
            "OTP request for password reset failed",
            "OTP.MOBILE_NUMBER",
            "MobileNumber Not Found For This User.",
        ),
        OtpError::NumberThrottled(t) => throttled(
            format!(
                "Too many OTP requests for this mobile number ({})",
                t.reason()
            ),
            t.retry_after_ms(),
        ),
        OtpError::IpThrottled(ms) => {
            throttled("Too many OTP requests from this client".to_owned(), ms)
        }
        OtpError::Capped(t @ Throttle::Prefix { .. }) => throttled(
            "Too many OTP requests for numbers like this one; try again later".to_owned(),
            t.retry_after_ms(),
        ),
        OtpError::Capped(t) => throttled(
            "Too many OTP requests right now; try again later".to_owned(),
            t.retry_after_ms(),
        ),
        other => otp_failed(other),
    }
}

/// A tenant of a state this deployment does not serve (`tenants.states`).
pub fn tenant_unknown() -> FieldError {
    FieldError::new(
        "OTP.TENANT_ID_UNKNOWN",
        "Tenant is not one of the states this service serves",
        "otp.tenantId",
    )
}

pub fn otp_failed(e: OtpError) -> ApiError {
    let unavailable = |text: &str| {
        ApiError::legacy(
            StatusCode::SERVICE_UNAVAILABLE,
            "OTP service unavailable",
            vec![FieldError::new("OTP.SERVICE_UNAVAILABLE", text, "")],
        )
    };
    match e {
        OtpError::ValidationFailed => validation_failed(),
        OtpError::UnknownTenant => {
            ApiError::legacy(StatusCode::BAD_REQUEST, OTP_INVALID, vec![tenant_unknown()])
        }
        OtpError::Backlog => unavailable("Notifications are backed up; retry shortly"),
        OtpError::Route(_) => unavailable("The OTP service is saturated; retry shortly"),
        OtpError::Store(StoreError::Journal(e)) => {
            tracing::warn!(error = %e, "an OTP request not stored: the journal did not take it");
            unavailable("The store cannot take writes right now; retry shortly")
        }
        OtpError::Store(StoreError::Commit(_)) => {
            unavailable("The store is saturated; retry shortly")
        }
        other => ApiError::internal(&other),
    }
}

/// egov-otp's answer to a wrong, expired or used code (egov-user relays it verbatim).
pub fn validation_failed() -> ApiError {
    ApiError::legacy(
        StatusCode::BAD_REQUEST,
        "OTP validation unsuccessful",
        vec![FieldError::new(
            "OTP.VALIDATION_UNSUCCESSFUL",
            "OTP validation unsuccessful",
            "otp.otp",
        )],
    )
}

pub fn login_refused(e: LoginError) -> ApiError {
    match e {
        LoginError::BadCredentials => oauth_invalid_request("Invalid login credentials"),
        LoginError::Locked => oauth_invalid_request("Account locked"),
        LoginError::Inactive => oauth_invalid_request("Please activate your account"),
        LoginError::InvalidRefresh => ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid refresh token",
        ),
        LoginError::ExpiredRefresh => ApiError::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Invalid refresh token (expired)",
        ),
        LoginError::Busy => ApiError::oauth(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service is saturated; retry shortly",
        )
        .retry_after(1),
        LoginError::Internal(cause) => {
            tracing::error!(error = %cause, source = ?cause.source(), "login failed internally");
            ApiError::oauth(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal Server Error",
            )
        }
    }
}

/// A password change refused, in DIGIT's answers; `wrong` is the endpoint's answer to a wrong credential.
pub fn password_change_refused(e: PasswordChangeError, wrong: ApiError) -> ApiError {
    match e {
        PasswordChangeError::NotFound => ApiError::exception(
            "UserNotFoundException",
            Some("User not found for given criteria".to_owned()),
        ),
        PasswordChangeError::OtpLoginUser => {
            ApiError::exception("InvalidUpdatePasswordRequestException", None)
        }
        PasswordChangeError::Policy(e) => e.into(),
        PasswordChangeError::WrongCredential => wrong,
        PasswordChangeError::Locked => ApiError::custom("ACCOUNT_LOCKED", "Account locked"),
        PasswordChangeError::Busy => busy(),
        PasswordChangeError::Failed(e) => ApiError::internal(&e),
        PasswordChangeError::NotStored(e) => ApiError::internal(&e),
    }
}

/// A write the journal did not take (brokers unreachable, or the partition not served): retry later.
fn journal_unavailable(e: &actors::store::JournalError) -> ApiError {
    tracing::warn!(error = %e, "a write not made: the journal did not take it");
    ApiError::unavailable(
        "JOURNAL_UNAVAILABLE",
        "The service cannot store changes right now; retry shortly",
    )
}

/// A store operation that failed: a retryable 503 when the journal did not answer, else a 500.
pub fn store_failed(e: StoreError) -> ApiError {
    match e {
        StoreError::Journal(e) => journal_unavailable(&e),
        other => ApiError::internal(&other),
    }
}

/// Long store work not run: every bulk thread busy and the queue full (503, retryable), or it failed (500).
impl From<crate::service::bulk::BulkError> for ApiError {
    fn from(e: crate::service::bulk::BulkError) -> Self {
        match e {
            crate::service::bulk::BulkError::Busy => busy().retry_after(RETRY_AFTER_SECS),
            crate::service::bulk::BulkError::Failed => ApiError::internal(&e),
        }
    }
}

pub fn busy() -> ApiError {
    ApiError::unavailable("SERVICE_BUSY", "The service is saturated; retry shortly")
}

/// The partition is moving between pods (a handover or takeover under way).
pub fn moving() -> ApiError {
    ApiError::unavailable(
        "PARTITION_MOVING",
        "This user's data is moving between instances; retry shortly",
    )
    .retry_after(RETRY_AFTER_SECS)
}

/// The owning pod did not answer in time.
pub fn unreachable_owner() -> ApiError {
    ApiError::unavailable(
        "OWNER_UNAVAILABLE",
        "The instance holding this user's data is not reachable; retry shortly",
    )
    .retry_after(RETRY_AFTER_SECS)
}
