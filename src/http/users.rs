//! `/user/users/_createnovalidate`, `/user/users/_updatenovalidate`, `/user/profile/_update`.

use actors::domain::audit::AuditKind;

use crate::service::audit::fields_set;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::json::{LowerJson, deserialize_at, require};
use super::request_info::{RequestInfoIn, through_gateway};
use super::user_json::{UserIn, UsersResponse, View, missing_user};
use crate::http::state::AppState;
use crate::service::registry::{Caller, Registry, UserDraft};

/// `{"RequestInfo": …, "user": …}` with keys folded to lower case.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope {
    requestinfo: Value,
    user: Value,
}

/// What every user write starts with: the caller and the parsed, bean-validated user.
pub(super) struct Parsed {
    pub(super) caller: Caller,
    pub(super) info: RequestInfoIn,
    pub(super) draft: UserDraft,
}

pub(super) fn parse(req: &HttpRequest, body: LowerJson) -> Result<Parsed, ApiError> {
    parse_with(req, body, None)
}

/// [`parse`] of an update: the masked values it sends back stand for the stored ones (see
/// [`UserIn::unmask`]); the user is the one its `uuid` names, when stored here.
pub(super) fn parse_update(
    req: &HttpRequest,
    body: LowerJson,
    state: &AppState,
) -> Result<Parsed, ApiError> {
    parse_with(req, body, Some(state))
}

fn parse_with(
    req: &HttpRequest,
    body: LowerJson,
    update: Option<&AppState>,
) -> Result<Parsed, ApiError> {
    let envelope: Envelope = deserialize_at(require(body)?, "")?;
    let info: RequestInfoIn = match envelope.requestinfo {
        Value::Null => RequestInfoIn::default(),
        v => deserialize_at(v, "RequestInfo")?,
    };
    if envelope.user.is_null() {
        return Err(missing_user());
    }
    let mut user: UserIn = deserialize_at(envelope.user, "user")?;
    if let Some(state) = update
        && let Some(uuid) = user.uuid.as_deref()
        && let Some(stored) = state
            .registry
            .store()
            .users()
            .get_by_uuid(uuid.trim())
            .map_err(super::error::domain::store_failed)?
    {
        user.unmask(&stored, state.privacy.policy());
    }
    user.validate()?;
    let caller = Caller {
        id: info.caller_id(),
        uuid: info.caller_uuid().map(str::to_owned),
        through_gateway: through_gateway(req),
    };
    Ok(Parsed {
        caller,
        info,
        draft: user.into_draft()?,
    })
}

/// Gateway-marked calls must carry one of `roles`; inter-service calls pass.
fn require_role(p: &Parsed, roles: &[String], path: &str) -> Result<(), ApiError> {
    if p.caller.through_gateway && !p.info.has_any_role(roles) {
        return Err(ApiError::forbidden(
            "ACCESS_DENIED",
            format!(
                "{path} through the gateway needs one of the roles {}",
                roles.join(", ")
            ),
        ));
    }
    Ok(())
}

fn registry(state: &AppState) -> &Registry {
    &state.registry
}

/// `POST /user/users/_createnovalidate`
#[utoipa::path(
    post,
    path = "/user/users/_createnovalidate",
    tag = "users",
    summary = "Creates a user without an OTP (HRMS, property tax owners…)",
    request_body = crate::http::openapi::schemas::UserRequest,
    responses(
        (status = 200, description = "The user created", body = crate::http::user_json::UsersResponse),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 403, description = "ACCESS_DENIED: through the gateway, the caller lacks the roles (`user.create_roles`)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn create_novalidate(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let parsed = parse(&req, body)?;
    require_role(
        &parsed,
        &state.settings.user.create_roles,
        "/user/users/_createnovalidate",
    )?;
    let fields = fields_set(&parsed.draft.fields);
    let created = registry(&state)
        .create(parsed.draft, &parsed.caller)
        .await?;
    state.registry.audit().record(
        &created.uuid,
        parsed.caller.uuid.as_deref(),
        AuditKind::UserCreated { fields },
    );
    Ok(HttpResponse::Ok().json(UsersResponse::new(&[created], View::Created)))
}

/// `POST /user/users/_updatenovalidate`
#[utoipa::path(
    post,
    path = "/user/users/_updatenovalidate",
    tag = "users",
    summary = "An admin update, by `uuid`; `accountLocked: false` ends a lock; masked values sent back keep the stored ones",
    request_body = crate::http::openapi::schemas::UserRequest,
    responses(
        (status = 200, description = "The user updated", body = crate::http::user_json::UsersResponse),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 403, description = "ACCESS_DENIED: through the gateway, the caller lacks the roles (`user.update_roles`)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn update_novalidate(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let parsed = parse_update(&req, body, &state)?;
    require_role(
        &parsed,
        &state.settings.user.update_roles,
        "/user/users/_updatenovalidate",
    )?;
    let unlock = parsed.draft.fields.account_locked == Some(false);
    let fields = fields_set(&parsed.draft.fields);
    let updated = registry(&state)
        .admin_update(parsed.draft, &parsed.caller)
        .await?;
    state.registry.audit().record(
        &updated.uuid,
        parsed.caller.uuid.as_deref(),
        AuditKind::UserUpdated { fields },
    );
    state
        .accounts
        .after_admin_update(&updated, unlock, parsed.caller.uuid.as_deref())
        .await;
    Ok(HttpResponse::Ok().json(UsersResponse::new(&[updated], View::Updated)))
}

/// `POST /user/profile/_update`
#[utoipa::path(
    post,
    path = "/user/profile/_update",
    tag = "users",
    summary = "A user updates their own profile (`id` and `uuid` must be `RequestInfo.userInfo`'s)",
    request_body = crate::http::openapi::schemas::UserRequest,
    responses(
        (status = 200, description = "The profile updated", body = crate::http::user_json::UsersResponse),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn profile_update(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let parsed = parse(&req, body)?;
    let source = super::request_info::client_ip(&req, &state);
    let fields = fields_set(&parsed.draft.fields);
    let updated = state
        .accounts
        .profile_update(parsed.draft, &parsed.caller, source)
        .await?;
    state
        .registry
        .audit()
        .record(&updated.uuid, None, AuditKind::UserUpdated { fields });
    Ok(HttpResponse::Ok().json(UsersResponse::new(&[updated], View::Updated)))
}
