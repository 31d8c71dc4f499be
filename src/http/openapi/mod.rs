//! The OpenAPI 3.1 description of every endpoint of both listeners, generated from the handlers'
//! `#[utoipa::path]` annotations and the shapes in this module: served at `GET /openapi.json` (internal
//! listener), printed by `digit-user openapi`, committed as `docs/openapi.json` (the test command fails when
//! the two differ). DIGIT's inputs are lenient — keys in any case, unknown keys ignored, numbers where
//! strings are due — and the description says so where it matters; the compatibility tests decide it.

use actix_web::HttpResponse;
use utoipa::OpenApi;

pub mod admin;
pub mod auth;
pub mod schemas;

/// The description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "digit-user",
        description = "DIGIT's user, login and OTP services (egov-user, user-otp, egov-otp) in one: their \
                       wire contract, and the operator and pod endpoints of the internal listener. Request \
                       keys are read in any case; unknown keys are ignored. Errors come in DIGIT's shapes: \
                       E1 (TracerError), E2 (LegacyError, the OTP endpoints), E3 (OAuthError, the token \
                       endpoint), E4 (LogoutError). Every keyed endpoint may answer a retryable E1 503 \
                       (PARTITION_MOVING, OWNER_UNAVAILABLE) with Retry-After while its data moves between \
                       pods.",
        license(name = "MIT")
    ),
    paths(
        crate::http::health::live,
        crate::http::health::ready,
        crate::http::admin::outbox,
        crate::http::audit::trail,
        crate::http::sessions::list,
        crate::http::sessions::end,
        crate::http::keys::status,
        crate::http::keys::load,
        crate::http::keys::reseal,
        crate::http::admin::backup,
        crate::http::import::users,
        crate::http::import::stored,
        crate::http::admin::metrics,
        crate::http::users::create_novalidate,
        crate::http::users::update_novalidate,
        crate::http::users::profile_update,
        crate::http::search::search_default_active,
        crate::http::search::search_v1,
        crate::http::search::search_by_tenant,
        crate::http::oauth::token,
        crate::http::oauth::token_get,
        crate::http::oauth::details,
        crate::http::oauth::logout,
        crate::http::account::citizen_create,
        crate::http::account::update,
        crate::http::account::reset,
        crate::http::otp::send,
        crate::http::otp::validate,
        crate::http::otp::create,
        crate::http::otp::search,
        crate::http::cluster::status,
        crate::http::cluster::handover,
        crate::http::cluster::search_leg,
        crate::http::cluster::otp_check,
        crate::http::cluster::otp_send,
        crate::http::cluster::tally,
        crate::http::cluster::audit,
        crate::http::import::part,
        serve,
    ),
    tags(
        (name = "users", description = "egov-user: create, update, search, register"),
        (name = "login", description = "egov-user: tokens, the gateway's check, logout"),
        (name = "password", description = "egov-user: password change and reset"),
        (name = "otp", description = "user-otp and egov-otp"),
        (name = "health", description = "Liveness and readiness"),
        (name = "admin", description = "The operator's endpoints (internal listener)"),
        (name = "cluster", description = "Between pods (internal listener)")
    )
)]
struct Description;

/// The description; each operation named by its method and path (handlers of two tables share names).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Description::openapi();
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in [("get", item.get.as_mut()), ("post", item.post.as_mut())] {
            if let Some(operation) = operation {
                operation.operation_id = Some(operation_id(method, path));
            }
        }
    }
    doc
}

/// `post_user_users__createnovalidate` for `POST /user/users/_createnovalidate`: the path's other characters
/// as `_`, so two paths never share a name.
fn operation_id(method: &str, path: &str) -> String {
    let path: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{method}{path}")
}

/// The description as the committed `docs/openapi.json` holds it (pretty, a newline at the end).
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the description serializes");
    text.push('\n');
    text
}

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "admin",
    summary = "This description (internal listener)",
    responses((status = 200, description = "The OpenAPI 3.1 description", body = admin::PodBody))
)]
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}
