//! The citizen's and the employee's own account: `/user/citizen/_create` (self-registration with the OTP,
//! answered with tokens), `/user/password/_update` (logged in) and `/user/password/nologin/_update` (forgot
//! password, with the OTP). Contract 4.4.5, 4.4.9, 4.4.10; the fixes: the registration OTP is consumed only
//! after the duplicate check, wrong existing passwords and reset OTPs count towards the lock, and a password
//! change ends the user's other sessions.

use actix_web::{HttpRequest, HttpResponse, web};
use actors::domain::otp::Purpose;
use actors::domain::roles::RoleRequest;
use actors::domain::{UserRecord, UserType};
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::json::{LowerJson, bind, opt_string, require};
use super::oauth::token_response;
use super::otp::validation_failed;
use super::request_info::RequestInfoIn;
use super::user_json::{ResponseInfo, UsersResponse, View};
use super::users::parse;
use crate::http::state::AppState;
use crate::service::login::{Credential, LoginError};
use crate::service::otp::OtpError;
use crate::service::registry::RegistryError;

fn busy() -> ApiError {
    ApiError::unavailable("SERVICE_BUSY", "The service is saturated; retry shortly")
}

/// `POST /user/citizen/_create`
pub async fn citizen_create(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut parsed = parse(&req, body)?;
    let rules = &state.settings.login;
    let draft = &mut parsed.draft;
    if rules.citizen_otp_login {
        let user_name = draft.user_name.as_deref().unwrap_or_default();
        if user_name.is_empty() || !user_name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::exception("UserNameNotValidException", None));
        }
        draft.fields.mobile_number = Some(user_name.to_owned());
    } else if draft.password.is_none() {
        return Err(ApiError::exception(
            "InvalidUserCreateException",
            Some("password is mandatory when citizens log in with a password".to_owned()),
        ));
    }
    draft.fields.user_type = Some(UserType::Citizen);
    draft.roles = Some(vec![RoleRequest {
        code: "CITIZEN".into(),
        tenant_id: None,
    }]);
    draft.tenant_id = draft.tenant_id.as_ref().map(|t| t.state());
    if rules.register_with_login {
        draft.fields.active = Some(true);
    }
    let otp = draft.otp_reference.take().map(Zeroizing::new);
    if rules.register_otp_mandatory && otp.is_none() {
        return Err(ApiError::exception(
            "InvalidUserCreateException",
            Some("otpReference is mandatory".to_owned()),
        ));
    }
    // every check of the create, the duplicate one included, before the OTP is spent
    let mut record = state
        .registry
        .prepare_create(parsed.draft, &parsed.caller)
        .await?;
    // a citizen registering chose their own password, if any
    record.default_pwd_changed = true;
    if rules.register_otp_mandatory {
        let code = otp.as_deref().map(String::as_str).unwrap_or_default();
        let mobile = record.mobile_number.as_deref().unwrap_or_default();
        match state
            .otp
            .check(mobile, record.tenant_id.as_str(), code, Purpose::Register)
            .await
        {
            Ok(_) => {}
            Err(OtpError::ValidationFailed | OtpError::UnknownTenant) => {
                return Err(validation_failed());
            }
            Err(OtpError::Route(_)) => return Err(busy()),
            Err(e) => return Err(ApiError::internal(&e)),
        }
    }
    let created = state.registry.insert(record).await?;
    if !rules.register_with_login {
        return Ok(HttpResponse::Ok().json(UsersResponse::new(&[created], View::Created)));
    }
    match state.login.sessions().open(&created, "read").await {
        Ok(issued) => Ok(token_response(&issued)),
        Err(e) => Err(ApiError::custom(
            "LOGIN_ERROR",
            format!("Error occurred while logging in via register flow: {e}"),
        )),
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

fn not_found() -> ApiError {
    ApiError::exception(
        "UserNotFoundException",
        Some("User not found for given criteria".to_owned()),
    )
}

fn locked() -> ApiError {
    ApiError::custom("ACCOUNT_LOCKED", "Account locked")
}

fn login_failure(e: LoginError, wrong: ApiError) -> ApiError {
    match e {
        LoginError::BadCredentials => wrong,
        LoginError::Locked => locked(),
        LoginError::Busy => busy(),
        other => ApiError::internal(&other),
    }
}

/// Checks the new password against the policy (before any credential is checked: a bad request counts
/// nothing).
fn check_policy(state: &AppState, password: &str) -> Result<(), ApiError> {
    let violations = state.settings.password_policy().check(password);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Password(violations).into())
    }
}

fn refuse_otp_users(state: &AppState, user: &UserRecord) -> Result<(), ApiError> {
    if state.login.rules().otp_login(user.user_type) {
        Err(ApiError::exception(
            "InvalidUpdatePasswordRequestException",
            None,
        ))
    } else {
        Ok(())
    }
}

/// `POST /user/password/_update`: the user is the one of `RequestInfo.authToken` when given (verified),
/// else `RequestInfo.userInfo.userName` as the gateway set it.
pub async fn update(body: LowerJson, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let input: PasswordIn = bind(require(body)?, "")?;
    let info: RequestInfoIn = match input.requestinfo {
        Value::Null => RequestInfoIn::default(),
        v => bind(v, "RequestInfo")?,
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
    change_password(
        &state,
        Change {
            user: (&tenant, &user_type, &user_name),
            session: session
                .as_ref()
                .map(|v| (v.snapshot.uuid.as_str(), v.family.as_str())),
            credential: Credential::Password(Zeroizing::new(existing)),
            wrong: mismatch,
            new: Zeroizing::new(new),
        },
    )
    .await
}

/// `POST /user/password/nologin/_update`: the OTP (purpose passwordreset) sent to the user's stored mobile
/// number proves the user.
pub async fn reset(body: LowerJson, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let input: PasswordIn = bind(require(body)?, "")?;
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
    change_password(
        &state,
        Change {
            user: (&tenant, &user_type, &user_name),
            session: None,
            credential: Credential::Otp(Zeroizing::new(otp), Purpose::PasswordReset),
            wrong: validation_failed(),
            new: Zeroizing::new(new),
        },
    )
    .await
}

/// A password change as both endpoints make it.
struct Change<'a> {
    /// (tenantId, type, userName) as the request names the user.
    user: (&'a str, &'a str, &'a str),
    /// The verified session of the request (user uuid, family), which the change keeps.
    session: Option<(&'a str, &'a str)>,
    /// What proves the user.
    credential: Credential,
    /// The answer when it does not.
    wrong: ApiError,
    /// The new password.
    new: Zeroizing<String>,
}

/// Finds the user, refuses OTP-login users and a new password the policy refuses (before any credential is
/// checked), checks the credential in the user's lockout actor, stores the new hash and ends the user's
/// other sessions.
async fn change_password(state: &AppState, c: Change<'_>) -> Result<HttpResponse, ApiError> {
    let (tenant, user_type, user_name) = c.user;
    let user_type = UserType::parse(user_type).ok_or_else(not_found)?;
    let user = state
        .login
        .find(tenant, user_type, user_name)
        .map_err(|e| login_failure(e, not_found()))?
        .filter(|u| c.session.is_none_or(|(uuid, _)| uuid == u.uuid))
        .ok_or_else(not_found)?;
    refuse_otp_users(state, &user)?;
    check_policy(state, &c.new)?;
    state
        .login
        .check(&user, c.credential)
        .await
        .map_err(|e| login_failure(e, c.wrong))?;
    state
        .login
        .store_password(
            &user.uuid,
            Some(&user.uuid),
            c.new,
            crate::service::login::NewPassword::ChosenByUser,
        )
        .await
        .map_err(|e| login_failure(e, busy()))?;
    let keep = c.session.map(|(_, family)| family);
    revoke_sessions(state, &user.uuid, keep).await;
    Ok(password_response())
}

/// Ends the user's sessions after a password change; the change itself already stands, so a failure here
/// is logged, not answered.
async fn revoke_sessions(state: &AppState, uuid: &str, keep: Option<&str>) {
    if let Err(e) = state
        .login
        .sessions()
        .revoke_user(uuid, keep, "password_change")
        .await
    {
        tracing::error!(error = %e, "sessions could not be revoked after a password change");
    }
}
