//! The HTTP boundary: DIGIT's wire JSON in and out, one error type, the route table of both listeners.

pub mod account;
pub mod admin;
pub mod client_ip;
pub mod cluster;
pub mod correlation;
pub mod dates;
pub mod error;
pub mod forward;
pub mod health;
pub mod json;
pub mod oauth;
pub mod otp;
pub mod request_info;
pub mod route;
pub mod search;
pub mod state;
pub mod user_json;
pub mod users;

use actix_web::web;

/// Routes served on both listeners; internal-only ones (OTP create/search, metrics, outbox, `/cluster/*`)
/// answer 404 on the public listener.
pub fn public_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/admin/outbox", web::get().to(admin::outbox))
        .route("/metrics", web::get().to(admin::metrics))
        .route(
            "/user/users/_createnovalidate",
            web::post().to(users::create_novalidate),
        )
        .route(
            "/user/users/_updatenovalidate",
            web::post().to(users::update_novalidate),
        )
        .route(
            "/user/profile/_update",
            web::post().to(users::profile_update),
        )
        .route(
            "/user/_search",
            web::post().to(search::search_default_active),
        )
        .route("/user/v1/_search", web::post().to(search::search_v1))
        .route(
            "/user/_searchByTenant",
            web::post().to(search::search_by_tenant),
        )
        .route("/user/oauth/token", web::post().to(oauth::token))
        .route("/user/oauth/token", web::get().to(oauth::token_get))
        .route("/user/_details", web::post().to(oauth::details))
        .route("/user/_logout", web::post().to(oauth::logout))
        .route(
            "/user/citizen/_create",
            web::post().to(account::citizen_create),
        )
        .route("/user/password/_update", web::post().to(account::update))
        .route(
            "/user/password/nologin/_update",
            web::post().to(account::reset),
        )
        .route("/user-otp/v1/_send", web::post().to(otp::send))
        .route("/otp/v1/_validate", web::post().to(otp::validate))
        .route("/otp/v1/_create", web::post().to(otp::create))
        .route("/otp/v1/_search", web::post().to(otp::search))
        .route("/cluster/map/_get", web::post().to(cluster::map_get))
        .route("/cluster/map", web::post().to(cluster::map_put))
        .route("/cluster/status", web::post().to(cluster::status))
        .route(
            "/cluster/partitions/_freeze",
            web::post().to(cluster::freeze),
        )
        .route("/cluster/partitions/_thaw", web::post().to(cluster::thaw))
        .route(
            "/cluster/partitions/_export",
            web::post().to(cluster::export),
        )
        .route(
            "/cluster/partitions/_import",
            web::post().to(cluster::import),
        )
        .route(
            "/cluster/partitions/_drop",
            web::post().to(cluster::drop_partitions),
        )
        .route(
            "/cluster/revocations",
            web::post().to(cluster::revocations_put),
        )
        .route(
            "/cluster/revocations/_all",
            web::post().to(cluster::revocations_all),
        )
        .route(
            "/cluster/users/_search",
            web::post().to(cluster::search_leg),
        )
        .route("/cluster/otp/_validate", web::post().to(cluster::otp_check))
        .route("/cluster/otp/_send", web::post().to(cluster::otp_send));
}
