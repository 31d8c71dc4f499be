//! `/user/_search` (`active` defaults to true) and `/user/v1/_search` (no default) — contract 4.4.6 — and
//! mGramSeva's `/user/_searchByTenant`: the same body with `tenantIds`, the users holding a role (of
//! `roleCodes`, when given) in one of those tenants; no `active` default; `tenantIds` required (the fork
//! answered an empty list with a server error and a missing one with every user).

use actix_web::http::header::ContentType;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actors::domain::UserRecord;
use actors::domain::rules::{Checker, TENANT_PATTERN};
use actors::domain::search::{SORTABLE, UserQuery, page_size};
use actors::domain::{TenantId, UserType};
use serde::Deserialize;

use super::error::{ApiError, ErrorEntry};
use super::json::{
    LowerJson, deserialize_at, i64_list, opt_bool, opt_i64, opt_string, require, string_list,
};
use super::request_info::{RequestInfoIn, through_gateway};
use super::user_json::{UsersResponse, View, constraint_name};
use crate::http::error::domain::{moving, unreachable_owner};
use crate::http::request_info::OwnedHere;
use crate::http::request_info::from_peer;
use crate::http::state::AppState;
use crate::service::owned::{FanOutError, search_everywhere, search_page_everywhere};
use crate::service::privacy::Granted;
use crate::service::registry::RegistryError;
use actors::domain::masking::Viewer;

/// The flat search body (keys folded to lower case); `aadhaarNumber`, `pan`, `fuzzyLogic` are accepted
/// and, as in DIGIT, do not filter.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SearchIn {
    #[serde(deserialize_with = "i64_list")]
    id: Vec<i64>,
    #[serde(deserialize_with = "string_list")]
    uuid: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    username: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    mobilenumber: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    emailid: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    active: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    tenantid: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    usertype: Option<String>,
    #[serde(deserialize_with = "string_list")]
    rolecodes: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    tenantids: Vec<String>,
    #[serde(deserialize_with = "opt_i64")]
    pagesize: Option<i64>,
    #[serde(deserialize_with = "opt_i64")]
    pagenumber: Option<i64>,
    #[serde(deserialize_with = "string_list")]
    sort: Vec<String>,
    /// `RequestInfo`: its `userInfo` decides what the caller sees of the users found.
    requestinfo: serde_json::Value,
}

/// Role codes and tenants a search may name at most.
const MAX_LIST: usize = 100;

fn criteria_error(reason: impl Into<String>) -> ApiError {
    ApiError::exception(
        "InvalidUserSearchCriteriaException",
        format!("Insufficient or invalid search criteria: {}", reason.into()),
    )
}

/// Which search endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/user/_search`: `active` defaults to true; `tenantId` must match DIGIT's pattern.
    Search,
    /// `/user/v1/_search`
    SearchV1,
    /// `/user/_searchByTenant` (mGramSeva)
    ByTenant,
}

fn query(
    input: SearchIn,
    endpoint: Endpoint,
    gateway: bool,
    state: &AppState,
) -> Result<UserQuery, ApiError> {
    let v1 = endpoint != Endpoint::Search;
    let mut c = Checker::new();
    c.max_len("userName", input.username.as_deref(), 64);
    c.max_len("name", input.name.as_deref(), 100);
    c.max_len("emailId", input.emailid.as_deref(), 128);
    c.max_len("tenantId", input.tenantid.as_deref(), 256);
    if !v1 {
        c.letters_dots_spaces("tenantId", input.tenantid.as_deref(), TENANT_PATTERN);
    }
    for tenant in &input.tenantids {
        c.max_len("tenantIds", Some(tenant), 256);
    }
    // each code and tenant is an index scan, on every pod of a fan-out
    for (field, list) in [
        ("roleCodes", &input.rolecodes),
        ("tenantIds", &input.tenantids),
    ] {
        if list.len() > MAX_LIST {
            return Err(ApiError::many(vec![ErrorEntry {
                code: format!("Size.userSearchRequest.{field}"),
                message: format!("size must be between 0 and {MAX_LIST}"),
                description: None,
                params: None,
            }]));
        }
    }
    let violations = c.finish();
    if !violations.is_empty() {
        return Err(ApiError::many(
            violations
                .into_iter()
                .map(|v| ErrorEntry {
                    code: format!(
                        "{}.userSearchRequest.{}",
                        constraint_name(v.constraint),
                        v.field
                    ),
                    message: v.message,
                    description: None,
                    params: None,
                })
                .collect(),
        ));
    }
    if let Some(bad) = input.sort.iter().find(|s| !SORTABLE.contains(&s.as_str())) {
        return Err(criteria_error(format!(
            "sort by {bad:?} is not supported; use one of {}",
            SORTABLE.join(", ")
        )));
    }
    let user_type = input.usertype.as_deref().and_then(UserType::parse);
    let tenant_id = match input.tenantid.as_deref().filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => Some(TenantId::parse(t).map_err(|e| criteria_error(e.to_string()))?),
    };
    let tenant_id = match (tenant_id, user_type) {
        (Some(t), Some(UserType::Citizen)) => Some(t.state()),
        (t, _) => t,
    };
    let role_tenants = role_tenants(&input.tenantids, endpoint)?;
    // the fork reads `tenantId` only without role codes: with them the roles' tenants say it all
    let tenant_id = tenant_id.filter(|_| role_tenants.is_empty() || input.rolecodes.is_empty());
    let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let mut q = UserQuery {
        ids: input.id,
        uuids: input
            .uuid
            .into_iter()
            .filter(|u| !u.trim().is_empty())
            .collect(),
        user_name: blank(input.username),
        name: blank(input.name),
        mobile_number: blank(input.mobilenumber),
        email_id: blank(input.emailid),
        tenant_id,
        user_type,
        role_codes: input.rolecodes,
        role_tenants,
        active: if v1 {
            input.active
        } else {
            Some(input.active.unwrap_or(true))
        },
        offset: usize::try_from(input.pagenumber.unwrap_or(0)).unwrap_or(0),
        limit: None,
    };
    if endpoint != Endpoint::ByTenant {
        q.check_sufficient(gateway).map_err(criteria_error)?;
    }
    let by_id = !q.ids.is_empty() || !q.uuids.is_empty();
    q.limit = page_size(
        input.pagesize.unwrap_or(0),
        gateway,
        by_id,
        state.settings.user.search_default_size,
        state.settings.user.search_inter_service_max_size,
    );
    Ok(q)
}

/// `tenantIds`: required by `_searchByTenant`, not read elsewhere.
fn role_tenants(tenant_ids: &[String], endpoint: Endpoint) -> Result<Vec<TenantId>, ApiError> {
    if endpoint != Endpoint::ByTenant {
        return Ok(Vec::new());
    }
    let tenants = tenant_ids
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| TenantId::parse(t.trim()).map_err(|e| criteria_error(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if tenants.is_empty() {
        return Err(criteria_error("tenantIds is required"));
    }
    Ok(tenants)
}

async fn search(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
    endpoint: Endpoint,
) -> Result<HttpResponse, ApiError> {
    let mut input: SearchIn = deserialize_at(require(body)?, "")?;
    let info: RequestInfoIn = match input.requestinfo.take() {
        serde_json::Value::Null => RequestInfoIn::default(),
        v => deserialize_at(v, "RequestInfo")?,
    };
    let q = query(input, endpoint, through_gateway(&req), &state)?;
    let viewer = info.viewer();
    // the scan, the masking and the page's JSON on a bulk thread: a page of thousands of users takes
    // milliseconds, which a worker owes to health probes and token checks; a point lookup stays here
    let point = q.is_point_lookup();
    let shown = state.clone();
    let body = if fans_out(&req, &state) {
        // every pod's rows from 0 to offset + limit, merged in id order, then the page cut; a partition
        // no leg held (moving between pods) is asked again, then answered with a retryable 503
        let users = if point {
            search_everywhere(&state.registry, &state.cluster, &q).await
        } else {
            search_page_everywhere(&state.bulk, &state.registry, &state.cluster, &q).await
        };
        let users = users.map_err(|e| match e {
            FanOutError::Store(e) => e.into(),
            FanOutError::Bulk(e) => e.into(),
            FanOutError::Moving(_) => moving(),
            FanOutError::Leg(e) => {
                tracing::warn!(error = %e, "search leg failed");
                unreachable_owner()
            }
        })?;
        if point {
            page(&state, users, &viewer)
        } else {
            let viewer = viewer.clone();
            state.bulk.run(move || page(&shown, users, &viewer)).await?
        }
    } else if point {
        page(&state, state.registry.search(&q)?, &viewer)
    } else {
        let viewer = viewer.clone();
        state
            .bulk
            .run(move || {
                let users = shown.registry.search(&q)?;
                Ok::<_, RegistryError>(page(&shown, users, &viewer))
            })
            .await??
    };
    let (body, granted) = body;
    // recorded here: the audit writes from the request's own runtime
    state
        .privacy
        .record(granted, &viewer, &state.registry.audit());
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// The answer's body: `users` as `viewer` may see them; and the plain access that granted.
fn page(state: &AppState, users: Vec<UserRecord>, viewer: &Viewer) -> (Vec<u8>, Vec<Granted>) {
    let (users, granted) = state.privacy.mask(users, viewer);
    let body = serde_json::to_vec(&UsersResponse::new(&users, View::Searched))
        .expect("a user list renders as JSON");
    (body, granted)
}

/// Whether this search must ask every pod: sharded, not already routed to its single owner, and not one leg
/// of another pod's request.
fn fans_out(req: &HttpRequest, state: &AppState) -> bool {
    state.cluster.sharded()
        && req.extensions().get::<OwnedHere>().is_none()
        && !from_peer(req, state)
}

/// `POST /user/_search`
#[utoipa::path(
    post,
    path = "/user/_search",
    tag = "users",
    summary = "Searches users; `active` defaults to true; PII masked by the caller's roles",
    request_body = crate::http::openapi::schemas::SearchRequest,
    responses(
        (status = 200, description = "The users found", body = crate::http::user_json::UsersResponse),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn search_default_active(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    search(req, body, state, Endpoint::Search).await
}

/// `POST /user/v1/_search`
#[utoipa::path(
    post,
    path = "/user/v1/_search",
    tag = "users",
    summary = "Searches users (no default for `active`)",
    request_body = crate::http::openapi::schemas::SearchRequest,
    responses(
        (status = 200, description = "The users found", body = crate::http::user_json::UsersResponse),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn search_v1(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    search(req, body, state, Endpoint::SearchV1).await
}

/// `POST /user/_searchByTenant` (mGramSeva's HRMS lists the employees of its tenants with it)
#[utoipa::path(
    post,
    path = "/user/_searchByTenant",
    tag = "users",
    summary = "Users holding a role in one of `tenantIds`",
    request_body = crate::http::openapi::schemas::SearchRequest,
    responses(
        (status = 200, description = "The users found", body = crate::http::user_json::UsersResponse),
        (status = 400, description = "Refused: an unreadable or oversized body, a wrong type, a failed rule (the codes of egov-user)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
        (status = 503, description = "Retryable: the store or the journal cannot take it now, the data is moving between pods or its pod is unreachable (`Retry-After` on the last two)", body = crate::http::openapi::schemas::TracerError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn search_by_tenant(
    req: HttpRequest,
    body: LowerJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    search(req, body, state, Endpoint::ByTenant).await
}
