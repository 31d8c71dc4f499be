//! `GET /admin/audit` (internal listener only): a user's audit trail, oldest first, paged —
//! `?user=<uuid>&from=<epoch ms>&to=<epoch ms>&kind=<kind>[,<kind>…]&offset=<n>&limit=<n>`. Routed to the pod
//! that owns the user (its events live in the user's partition). What `digit-user admin audit` prints.

use actix_web::{HttpResponse, web};
use actors::store::AuditQuery;
use serde::Deserialize;

use super::error::ApiError;
use super::error::domain::store_failed;
use crate::http::state::AppState;

/// Events a page holds by default, and at most.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The query string.
#[derive(Debug, Deserialize)]
pub struct AuditParams {
    user: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    kind: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

fn invalid(why: &str) -> ApiError {
    ApiError::custom("INVALID_AUDIT_QUERY", why.to_owned())
}

/// `GET /admin/audit`
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    summary = "A user's audit trail, oldest first, paged (internal listener; routed to the user's pod)",
    params(
        ("user" = String, Query, description = "The user's uuid"),
        ("from" = Option<i64>, Query, description = "From this moment, epoch ms"),
        ("to" = Option<i64>, Query, description = "Before this moment, epoch ms"),
        ("kind" = Option<String>, Query, description = "Kinds, comma-separated (user_created, login_failed, …)"),
        ("offset" = Option<u32>, Query, description = "Events to skip"),
        ("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"),
    ),
    responses(
        (status = 200, description = "The events", body = crate::http::openapi::admin::AuditTrail),
        (status = 400, description = "INVALID_AUDIT_QUERY", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn trail(
    state: web::Data<AppState>,
    params: Result<web::Query<AuditParams>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let params = params
        .map_err(|_| {
            invalid("user, from, to, kind, offset and limit: a uuid, numbers and kind names")
        })?
        .into_inner();
    let user = super::request_info::user_param(params.user.as_deref())
        .ok_or_else(|| invalid("user must be a user's uuid"))?;
    let query = AuditQuery {
        from: params.from,
        to: params.to,
        kinds: params
            .kind
            .iter()
            .flat_map(|k| k.split(','))
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect(),
        offset: params.offset.unwrap_or(0),
        limit: params.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE),
    };
    let events = state
        .registry
        .store()
        .audit()
        .read(&user, &query)
        .map_err(store_failed)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user": user.to_string(),
        "offset": query.offset,
        "events": events,
    })))
}
