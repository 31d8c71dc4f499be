//! The keys in force, on the internal listener of each pod (not routed: every pod has its own keys and its
//! own data dir): `GET /admin/keys` shows the keys used and loaded and the re-sealing's progress — with
//! `?count=true` also the values here by the key they are sealed under (a scan of the whole store, so not
//! what a progress poll asks); `POST /admin/keys/_load[?promote=true]` reads the secrets
//! again; `POST /admin/keys/_reseal` starts moving every value here under the current sealing key. What
//! `digit-user admin rotate-keys` drives on every pod.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::error::ApiError;
use crate::http::state::AppState;
use crate::service::keys::KeyError;

/// Values re-sealed per write.
const RESEAL_BATCH: usize = 512;

/// `?promote=`
#[derive(Debug, Deserialize)]
pub struct LoadParams {
    #[serde(default)]
    promote: bool,
}

/// `?count=`
#[derive(Debug, Deserialize)]
pub struct StatusParams {
    #[serde(default)]
    count: bool,
}

fn refused(e: KeyError) -> ApiError {
    match e {
        KeyError::Store(e) => super::error::domain::store_failed(e),
        KeyError::Busy => ApiError::custom("RESEAL_RUNNING", e.to_string()),
        KeyError::Secret(_) | KeyError::Needed(_) => {
            ApiError::custom("KEYS_REFUSED", e.to_string())
        }
    }
}

/// The keys' picture; with `count`, the values here by sealing key too.
async fn picture(state: &AppState, count: bool) -> Result<serde_json::Value, ApiError> {
    let mut picture = serde_json::json!({
        "keys": state.keys.status().map_err(refused)?,
        "reseal": state.keys.resealing(),
    });
    if count {
        let (sealed, held) = state.keys.sealed().await.map_err(refused)?;
        picture["sealedByKey"] = serde_json::json!(sealed);
        picture["heldForAnotherPod"] = serde_json::json!(held);
    }
    Ok(picture)
}

/// `GET /admin/keys`
#[utoipa::path(
    get,
    path = "/admin/keys",
    tag = "admin",
    summary = "The keys this pod uses and holds, the re-sealing's progress (internal listener)",
    params(
        ("count" = Option<bool>, Query, description = "Also count the values by sealing key (a scan of the whole store)"),
    ),
    responses(
        (status = 200, description = "The keys", body = crate::http::openapi::admin::KeysPicture),
        (status = 400, description = "INVALID_KEYS_QUERY, KEYS_REFUSED", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn status(
    state: web::Data<AppState>,
    params: Result<web::Query<StatusParams>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let count = params
        .map_err(|_| ApiError::custom("INVALID_KEYS_QUERY", "count is true or false"))?
        .count;
    Ok(HttpResponse::Ok().json(picture(&state, count).await?))
}

/// `POST /admin/keys/_load`
#[utoipa::path(
    post,
    path = "/admin/keys/_load",
    tag = "admin",
    summary = "Reads the secrets again: new keys open, verify and check; with promote the newest of each list is used (internal listener)",
    params(
        ("promote" = Option<bool>, Query, description = "Use the newest key of each list from now on"),
    ),
    responses(
        (status = 200, description = "The keys", body = crate::http::openapi::admin::KeysPicture),
        (status = 400, description = "INVALID_KEYS_QUERY, KEYS_REFUSED (a key in use or still sealing values is missing)", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn load(
    state: web::Data<AppState>,
    params: Result<web::Query<LoadParams>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let promote = params
        .map_err(|_| ApiError::custom("INVALID_KEYS_QUERY", "promote is true or false"))?
        .promote;
    state.keys.load(promote).await.map_err(refused)?;
    Ok(HttpResponse::Ok().json(picture(&state, false).await?))
}

/// `POST /admin/keys/_reseal`
#[utoipa::path(
    post,
    path = "/admin/keys/_reseal",
    tag = "admin",
    summary = "Starts re-sealing every value of this pod under the current sealing key (internal listener)",
    responses(
        (status = 202, description = "Started", body = crate::http::openapi::admin::ResealStarted),
        (status = 400, description = "RESEAL_RUNNING", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn reseal(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let started = state.keys.reseal(RESEAL_BATCH).await.map_err(refused)?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(serde_json::json!({"reseal": started})))
}
