//! The pods' own endpoints (internal listener only; 404 on the public one): a pod's status (what `admin
//! cluster-status` shows), the end of a handover, a search leg, an OTP send and check at the pod that owns
//! the number, and the abuse counters of the keys a pod counts.
//!
//! None of these bodies is a DIGIT shape: they are ours and may change between versions of digit-user (a
//! rolling update runs two versions side by side for a moment: change them compatibly).

use std::time::Duration;

use actix_web::dev::Payload as DevPayload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actors::domain::search::UserQuery;
use actors::store::MoveCounts;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::json::CappedBody;
use crate::cluster::SERVED;
use crate::cluster::api::{
    AuditRecord, GroupStatus, OtpCheck, OtpSend, OtpSent, OtpVerdict, Partitions, PodStatus,
    TallyAsk,
};
use crate::cluster::calls::served_header;
use crate::http::state::AppState;
use crate::service::otp::OtpError;

/// A JSON body of the pods' own endpoints, read under the public cap and timeout; a body that does not parse
/// is a 400 in DIGIT's E1 shape, never actix's plain text.
pub struct PodJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for PodJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut DevPayload) -> Self::Future {
        let body = CappedBody::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            serde_json::from_slice(&body.0)
                .map(PodJson)
                .map_err(|e| ApiError::custom("JsonParseException", format!("Malformed JSON: {e}")))
        })
    }
}

impl<T> PodJson<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for PodJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// `POST /cluster/status`: ordinal, stored counts and — journal on — the group as this pod sees it.
#[utoipa::path(
    post,
    path = "/cluster/status",
    tag = "cluster",
    summary = "This pod's view: stored counts, the group, owners, standbys (between pods; `admin cluster-status`)",
    responses(
        (status = 200, description = "The status", body = crate::http::openapi::admin::PodBody),
    )
)]
pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.registry.store();
    let (lockouts, families) = store.logins().counts();
    let group = state.cluster.group().map(|g| GroupStatus {
        serving: g.slots.served(),
        assigned: g.slots.counts().0,
        routes: (*g.routes.table()).clone(),
        members: g.routes.members(),
        standbys: g.standby.placement(),
        following: g.standby.following(),
    });
    Ok(HttpResponse::Ok().json(PodStatus {
        ordinal: state.cluster.me(),
        stored: MoveCounts {
            users: store.users().len(),
            lockouts,
            families,
        },
        group,
    }))
}

/// `POST /cluster/partitions/_handover`: the next owner of the partitions
/// has taken them over; this pod stops answering for those it hands over, lets the requests inside finish
/// and releases them. Those it still serves as assigned (the group gave them to both pods for a moment) it
/// gives way with: the caller's claim is newer. `ended` names those it handed over.
#[utoipa::path(
    post,
    path = "/cluster/partitions/_handover",
    tag = "cluster",
    summary = "The next owner asks this pod to end partitions it handed over (between pods)",
    request_body = crate::http::openapi::admin::PodBody,
    responses(
        (status = 200, description = "The partitions ended", body = crate::http::openapi::admin::PodBody),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn handover(
    state: web::Data<AppState>,
    body: PodJson<Partitions>,
) -> Result<HttpResponse, ApiError> {
    let Some(group) = state.cluster.group() else {
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "ended": [] })));
    };
    let drain = Duration::from_millis(state.settings.cluster.drain_ms);
    let yielded = crate::cluster::group::driver::give_way_to_claim(
        &group.slots,
        state.cluster.store(),
        body.partitions.clone(),
        drain,
    )
    .await;
    if !yielded.is_empty() {
        tracing::info!(partitions = ?yielded, "group: partitions also given to the caller left to it");
    }
    let ended = crate::cluster::group::driver::end_handover(
        &group.slots,
        state.cluster.store(),
        body.partitions.clone(),
        drain,
    )
    .await;
    if !ended.is_empty() {
        tracing::info!(partitions = ?ended, "group: partitions handed over to their next owner");
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ended": ended })))
}

/// `POST /cluster/users/_search`: one leg of a fanned-out search — the users of partitions served here
/// for the whole search, without password hashes; those partitions in the [`SERVED`] header.
#[utoipa::path(
    post,
    path = "/cluster/users/_search",
    tag = "cluster",
    summary = "One pod's part of a fanned-out search (between pods)",
    request_body = crate::http::openapi::admin::PodBody,
    responses(
        (status = 200, description = "The users stored here (header x-digit-user-served)", body = crate::http::openapi::admin::StoredUsers),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn search_leg(
    state: web::Data<AppState>,
    query: PodJson<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    // the scan and the rows' JSON on a bulk thread, as a search on this pod (a point lookup stays here)
    let held = state.clone();
    let query = query.into_inner();
    let point = query.is_point_lookup();
    let leg = move || {
        let leg = crate::service::owned::owned_matches(&held.registry, &held.cluster, &query)?;
        let users: Vec<_> = leg
            .users
            .into_iter()
            .map(|mut u| {
                u.password_hash = None;
                u
            })
            .collect();
        let body = serde_json::to_vec(&users).expect("users render as JSON");
        Ok::<_, crate::service::registry::RegistryError>((body, leg.partitions))
    };
    let (body, partitions) = if point {
        leg()?
    } else {
        state.bulk.run(leg).await??
    };
    Ok(HttpResponse::Ok()
        .insert_header((SERVED, served_header(&partitions)))
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// `POST /cluster/otp/_validate`: an OTP check for a flow running on another pod.
#[utoipa::path(
    post,
    path = "/cluster/otp/_validate",
    tag = "cluster",
    summary = "A code checked at the pod holding its session (between pods)",
    request_body = crate::http::openapi::admin::PodBody,
    responses(
        (status = 200, description = "The verdict", body = crate::http::openapi::admin::PodBody),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "OTP service unavailable", body = crate::http::openapi::schemas::LegacyError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn otp_check(
    state: web::Data<AppState>,
    check: PodJson<OtpCheck>,
) -> Result<HttpResponse, ApiError> {
    let valid = match state
        .otp
        .validate(
            &check.identity,
            &check.tenant,
            &check.code,
            check.purpose,
            check.source,
        )
        .await
    {
        Ok(_) => true,
        Err(OtpError::ValidationFailed | OtpError::UnknownTenant) => false,
        Err(e) => return Err(super::error::domain::otp_send_refused(e)),
    };
    Ok(HttpResponse::Ok().json(OtpVerdict { valid }))
}

/// `POST /cluster/otp/_send`: a send for a number whose session lives here, asked by the pod that took the
/// request (a password reset whose user's stored number is not the one typed).
#[utoipa::path(
    post,
    path = "/cluster/otp/_send",
    tag = "cluster",
    summary = "A send handed to the pod holding the number's session (between pods)",
    request_body = crate::http::openapi::admin::PodBody,
    responses(
        (status = 200, description = "Sent or refused", body = crate::http::openapi::admin::PodBody),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "OTP service unavailable", body = crate::http::openapi::schemas::LegacyError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn otp_send(
    state: web::Data<AppState>,
    send: PodJson<OtpSend>,
) -> Result<HttpResponse, ApiError> {
    let sent = state
        .otp
        .send_here(send.into_inner())
        .await
        .map_err(super::error::domain::otp_send_refused)?;
    Ok(HttpResponse::Ok().json(OtpSent::from(sent)))
}

/// `POST /cluster/tally`: the abuse counters of keys this pod counts (their partitions' owner), asked by the
/// pod that took a send or a token request.
#[utoipa::path(
    post,
    path = "/cluster/tally",
    tag = "cluster",
    summary = "Abuse counters counted at the pod that owns their key (between pods)",
    request_body = crate::http::openapi::admin::PodBody,
    responses(
        (status = 200, description = "The answer", body = crate::http::openapi::admin::PodBody),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn tally(
    state: web::Data<AppState>,
    ask: PodJson<TallyAsk>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.tally.answer(&ask)))
}

/// `POST /cluster/audit`: an audit event of a user this pod serves, from the pod that handled the request.
#[utoipa::path(
    post,
    path = "/cluster/audit",
    tag = "cluster",
    summary = "An audit event written by the user's pod (between pods)",
    request_body = crate::http::openapi::admin::PodBody,
    responses(
        (status = 200, description = "Written", body = crate::http::openapi::admin::PodBody),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn audit(
    state: web::Data<AppState>,
    record: PodJson<AuditRecord>,
) -> Result<HttpResponse, ApiError> {
    state
        .registry
        .store()
        .audit()
        .record(&record.user, &record.event)
        .await
        .map_err(super::error::domain::store_failed)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
