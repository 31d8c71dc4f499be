//! Session administration on the internal listener, routed to the pod that owns the user (its sessions live
//! in the user's partition): `GET /admin/sessions?user=<uuid>` lists the user's live sessions, oldest first;
//! `POST /admin/sessions/_end?user=<uuid>&session=<id>` ends one, without `session` every one. What
//! `digit-user admin sessions` calls.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::error::ApiError;
use crate::http::state::AppState;
use crate::service::sessions::SessionError;

/// The query string.
#[derive(Debug, Deserialize)]
pub struct SessionParams {
    user: Option<String>,
    session: Option<String>,
}

fn invalid(why: &str) -> ApiError {
    ApiError::custom("INVALID_SESSION_QUERY", why.to_owned())
}

/// The user the query names (a uuid, as the store keys it) and the session, if any.
fn parse(
    params: Result<web::Query<SessionParams>, actix_web::Error>,
) -> Result<(String, Option<String>), ApiError> {
    let params = params
        .map_err(|_| invalid("user and session: a user's uuid and a session id"))?
        .into_inner();
    let user = super::request_info::user_param(params.user.as_deref())
        .ok_or_else(|| invalid("user must be a user's uuid"))?;
    let session = match params.session.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            uuid::Uuid::parse_str(s)
                .map_err(|_| invalid("session must be a session id, as the list shows it"))?
                .to_string(),
        ),
    };
    Ok((user.to_string(), session))
}

fn failed(e: SessionError) -> ApiError {
    match e {
        SessionError::Store(e) => super::error::domain::store_failed(e),
        other => ApiError::internal(&other),
    }
}

/// `GET /admin/sessions`
#[utoipa::path(
    get,
    path = "/admin/sessions",
    tag = "admin",
    summary = "A user's live sessions, oldest first (internal listener; routed to the user's pod)",
    params(
        ("user" = String, Query, description = "The user's uuid"),
    ),
    responses(
        (status = 200, description = "The sessions", body = crate::http::openapi::admin::SessionList),
        (status = 400, description = "INVALID_SESSION_QUERY", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    params: Result<web::Query<SessionParams>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = parse(params)?;
    let sessions = state.login.sessions().of_user(&user).map_err(failed)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"user": user, "sessions": sessions})))
}

/// `POST /admin/sessions/_end`
#[utoipa::path(
    post,
    path = "/admin/sessions/_end",
    tag = "admin",
    summary = "Ends one of a user's sessions, or every one (internal listener)",
    params(
        ("user" = String, Query, description = "The user's uuid"),
        ("session" = Option<String>, Query, description = "The session's id; absent: every session"),
    ),
    responses(
        (status = 200, description = "How many ended", body = crate::http::openapi::admin::SessionsEnded),
        (status = 400, description = "INVALID_SESSION_QUERY", body = crate::http::openapi::schemas::TracerError),
        (status = 404, description = "SESSION_NOT_FOUND", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn end(
    state: web::Data<AppState>,
    params: Result<web::Query<SessionParams>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let (user, session) = parse(params)?;
    let sessions = state.login.sessions();
    let ended = match &session {
        Some(id) => match sessions.end(&user, id).await.map_err(failed)? {
            true => 1,
            false => {
                return Err(ApiError::not_found(
                    "SESSION_NOT_FOUND",
                    "the user has no live session with that id",
                ));
            }
        },
        None => sessions.end_all(&user).await.map_err(failed)?,
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({"user": user, "ended": ended})))
}
