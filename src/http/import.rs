//! Users moved in from egov-user through a running deployment (internal listener only): `admin import
//! --url` sends each batch to any pod (`/admin/import/users`), which stores each user at the pod serving
//! its home (`/cluster/import/users` for another pod's part). The bodies carry decrypted PII and password
//! hashes between the importer and the pods, as every request the pods forward does: the internal listener
//! must stay inside the cluster's network.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;

use super::error::ApiError;
use super::error::domain::{moving, store_failed, unreachable_owner};
use super::json::read_capped;
use crate::cluster::api::ImportBatch;
use crate::http::cluster::PodJson;
use crate::http::state::AppState;
use crate::service::import::ImportRefused;
use crate::service::owned::{FanOutError, search_everywhere};
use actors::domain::search::UserQuery;

/// The largest import batch a pod reads: 8 MiB (`admin import --url` sends a few hundred users at a time,
/// about 1 KB each).
pub const IMPORT_BODY_MAX: usize = 8 << 20;

/// An import batch's body, read under [`IMPORT_BODY_MAX`].
pub struct BatchBody(ImportBatch);

impl FromRequest for BatchBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_capped(req, payload, IMPORT_BODY_MAX);
        Box::pin(async move {
            serde_json::from_slice(&body.await?)
                .map(BatchBody)
                .map_err(|e| ApiError::custom("JsonParseException", format!("Malformed JSON: {e}")))
        })
    }
}

/// `POST /admin/import/users`: stores a batch of imported users, each at its home's pod; what each did.
#[utoipa::path(
    post,
    path = "/admin/import/users",
    tag = "admin",
    summary = "Imports a batch of egov-user's users into a running deployment (internal listener; what `admin import --url` sends)",
    request_body = crate::http::openapi::admin::ImportBatch,
    responses(
        (status = 200, description = "One outcome per user, in order", body = crate::http::openapi::admin::ImportOutcomes),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn users(state: web::Data<AppState>, batch: BatchBody) -> Result<HttpResponse, ApiError> {
    let outcomes = state
        .importer
        .import(batch.0.users)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(outcomes))
}

/// `POST /cluster/import/users`: the part of a batch whose homes this pod serves.
#[utoipa::path(
    post,
    path = "/cluster/import/users",
    tag = "cluster",
    summary = "The part of an import batch a pod serves (between pods)",
    request_body = crate::http::openapi::admin::ImportBatch,
    responses(
        (status = 200, description = "One outcome per user, in order", body = crate::http::openapi::admin::ImportOutcomes),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn part(state: web::Data<AppState>, batch: BatchBody) -> Result<HttpResponse, ApiError> {
    let outcomes = state
        .importer
        .import_here(batch.0.users)
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(outcomes))
}

/// Which users `POST /admin/import/_users` is asked for.
#[derive(serde::Deserialize)]
pub struct Ids {
    ids: Vec<i64>,
}

/// Ids asked for at most.
const IDS_MAX: usize = 1000;

/// `POST /admin/import/_users`: the users stored under some ids, wherever they live, password hashes left
/// out (`admin import verify --url` compares them with the source).
#[utoipa::path(
    post,
    path = "/admin/import/_users",
    tag = "admin",
    summary = "Users as stored, by id (internal listener; what `admin import verify --url` reads)",
    request_body = crate::http::openapi::admin::StoredIds,
    responses(
        (status = 200, description = "The users as stored, password hashes left out", body = crate::http::openapi::admin::StoredUsers),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn stored(
    state: web::Data<AppState>,
    ids: PodJson<Ids>,
) -> Result<HttpResponse, ApiError> {
    if ids.ids.len() > IDS_MAX {
        return Err(ApiError::custom(
            "INVALID_REQUEST",
            format!("at most {IDS_MAX} ids at a time"),
        ));
    }
    let query = UserQuery {
        ids: ids.into_inner().ids,
        ..UserQuery::default()
    };
    let users = search_everywhere(&state.registry, &state.cluster, &query)
        .await
        .map_err(|e| match e {
            FanOutError::Store(e) => e.into(),
            FanOutError::Bulk(e) => e.into(),
            FanOutError::Moving(_) => moving(),
            FanOutError::Leg(_) => unreachable_owner(),
        })?;
    let users: Vec<_> = users
        .into_iter()
        .map(|mut u| {
            u.password_hash = None;
            u
        })
        .collect();
    Ok(HttpResponse::Ok().json(users))
}

/// Every refusal is retryable but a store failure's: the importer sends the batch again.
fn refused(e: ImportRefused) -> ApiError {
    match e {
        ImportRefused::Moving(_) => moving(),
        ImportRefused::Peer(e) => {
            tracing::warn!(error = %e, "import: a pod did not take its part");
            unreachable_owner()
        }
        ImportRefused::Directory(e) => {
            tracing::warn!(error = %e, "import: the directory topic did not take the homes");
            ApiError::unavailable(
                "JOURNAL_UNAVAILABLE",
                "The service cannot store changes right now; retry shortly",
            )
        }
        ImportRefused::Store(e) => store_failed(e),
        ImportRefused::Search(FanOutError::Store(e)) => e.into(),
        ImportRefused::Search(FanOutError::Bulk(e)) => e.into(),
        ImportRefused::Search(FanOutError::Moving(_)) => moving(),
        ImportRefused::Search(FanOutError::Leg(e)) => {
            tracing::warn!(error = %e, "import: a pod did not answer the search for clashes");
            unreachable_owner()
        }
    }
}
