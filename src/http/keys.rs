//! The keys in force, on the internal listener of each pod (not routed: every pod has its own keys and its
//! own data dir): `GET /admin/keys` shows the keys used and loaded, the values here by the key they are
//! sealed under and the re-sealing's progress; `POST /admin/keys/_load[?promote=true]` reads the secrets
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

fn refused(e: KeyError) -> ApiError {
    match e {
        KeyError::Store(e) => super::error::domain::store_failed(e),
        KeyError::Busy => ApiError::custom("RESEAL_RUNNING", e.to_string()),
        KeyError::Secret(_) | KeyError::Needed(_) => {
            ApiError::custom("KEYS_REFUSED", e.to_string())
        }
    }
}

/// The keys' whole picture.
fn picture(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let keys = state.keys.status().map_err(refused)?;
    let (sealed, held) = state.keys.sealed().map_err(refused)?;
    Ok(serde_json::json!({
        "keys": keys,
        "sealedByKey": sealed,
        "heldForAnotherPod": held,
        "reseal": state.keys.resealing(),
    }))
}

/// `GET /admin/keys`
pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(picture(&state)?))
}

/// `POST /admin/keys/_load`
pub async fn load(
    state: web::Data<AppState>,
    params: Result<web::Query<LoadParams>, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let promote = params
        .map_err(|_| ApiError::custom("INVALID_KEYS_QUERY", "promote is true or false"))?
        .promote;
    state.keys.load(promote).await.map_err(refused)?;
    Ok(HttpResponse::Ok().json(picture(&state)?))
}

/// `POST /admin/keys/_reseal`
pub async fn reseal(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let started = state.keys.reseal(RESEAL_BATCH).map_err(refused)?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(serde_json::json!({"reseal": started})))
}
