//! Every endpoint once: method, path, handler, the listeners that answer it and the key that routes it to
//! its owner. The route table actix serves, the routing middleware's key and the internal-only rule all
//! derive from [`ENDPOINTS`]; nothing else lists paths.

use actix_web::http::Method;
use actix_web::web;

use super::{
    account, admin, audit, cluster, health, import, keys, oauth, openapi, otp, search, sessions,
    users,
};

/// Which listeners answer an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listeners {
    /// The public and the internal listener.
    Both,
    /// The internal listener only: on the public one the path does not exist (a 404, the body unread).
    Internal,
}

/// Where a request carries the key that names its owner (read by `route_key` in `route.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// None: served where it lands, the body not read to route it.
    None,
    /// `user.tenantId` and `user.userName`: a user to create.
    NewUser,
    /// `user.uuid`: a user to update.
    UserUuid,
    /// A search: the one owner of its uuids, ids or userName, else every pod.
    Search,
    /// `tenantId` and `userName`: a forgotten password.
    Reset,
    /// `RequestInfo.authToken`, else `tenantId` and `RequestInfo.userInfo.userName`.
    PasswordChange,
    /// `access_token`: a logout.
    Logout,
    /// The token endpoint's grant (query string and form): a refresh token, or `tenantId` and `username`.
    Grant,
    /// `otp.tenantId` and `otp.mobileNumber`: an OTP to send.
    OtpSend,
    /// `otp.tenantId` and `otp.identity` (or `otp.mobileNumber`): a code to create or validate.
    OtpIdentity,
    /// `otp.UUID`: a stored code.
    OtpUuid,
    /// `?user=<uuid>`: a user's audit trail or sessions.
    QueryUser,
}

/// One endpoint of the table.
#[derive(Debug)]
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Exact path.
    pub path: &'static str,
    /// Who may call it.
    pub listeners: Listeners,
    /// What routes it.
    pub key: Key,
}

/// Declares [`ENDPOINTS`] and [`configure`] from one list, so the two cannot disagree.
macro_rules! endpoints {
    ($($method:ident $path:literal => $handler:path, $listeners:ident, $key:ident;)*) => {
        /// Every endpoint, in the order actix matches them.
        pub static ENDPOINTS: &[Endpoint] = &[$(Endpoint {
            method: Method::$method,
            path: $path,
            listeners: Listeners::$listeners,
            key: Key::$key,
        }),*];

        /// Registers every endpoint with actix, on both listeners: the routing middleware answers an
        /// internal-only path on the public listener before any handler runs.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::method(Method::$method).to($handler));)*
        }
    };
}

endpoints! {
    // first: actix tries the routes in this order, and the gateway asks this one on every request it checks;
    // answered where it lands: the signature, the expiry and the revocations every pod reads say all
    POST "/user/_details"                  => oauth::details,              Both,     None;
    GET  "/health/live"                    => health::live,                Both,     None;
    GET  "/health/ready"                   => health::ready,               Both,     None;
    GET  "/admin/outbox"                   => admin::outbox,               Internal, None;
    GET  "/admin/audit"                    => audit::trail,                Internal, QueryUser;
    GET  "/admin/sessions"                 => sessions::list,              Internal, QueryUser;
    POST "/admin/sessions/_end"            => sessions::end,               Internal, QueryUser;
    GET  "/admin/keys"                     => keys::status,                Internal, None;
    POST "/admin/keys/_load"               => keys::load,                  Internal, None;
    POST "/admin/keys/_reseal"             => keys::reseal,                Internal, None;
    POST "/admin/backup"                   => admin::backup,               Internal, None;
    POST "/admin/import/users"             => import::users,               Internal, None;
    POST "/admin/import/_users"            => import::stored,              Internal, None;
    GET  "/metrics"                        => admin::metrics,              Internal, None;
    GET  "/openapi.json"                   => openapi::serve,              Internal, None;
    POST "/user/users/_createnovalidate"   => users::create_novalidate,    Both,     NewUser;
    POST "/user/users/_updatenovalidate"   => users::update_novalidate,    Both,     UserUuid;
    POST "/user/profile/_update"           => users::profile_update,       Both,     UserUuid;
    POST "/user/_search"                   => search::search_default_active, Both,   Search;
    POST "/user/v1/_search"                => search::search_v1,           Both,     Search;
    POST "/user/_searchByTenant"           => search::search_by_tenant,    Both,     None;
    POST "/user/oauth/token"               => oauth::token,                Both,     Grant;
    GET  "/user/oauth/token"               => oauth::token_get,            Both,     Grant;
    POST "/user/_logout"                   => oauth::logout,               Both,     Logout;
    POST "/user/citizen/_create"           => account::citizen_create,     Both,     NewUser;
    POST "/user/password/_update"          => account::update,             Both,     PasswordChange;
    POST "/user/password/nologin/_update"  => account::reset,              Both,     Reset;
    POST "/user-otp/v1/_send"              => otp::send,                   Both,     OtpSend;
    POST "/otp/v1/_validate"               => otp::validate,               Both,     OtpIdentity;
    POST "/otp/v1/_create"                 => otp::create,                 Internal, OtpIdentity;
    POST "/otp/v1/_search"                 => otp::search,                 Internal, OtpUuid;
    POST "/cluster/status"                 => cluster::status,             Internal, None;
    POST "/cluster/partitions/_handover"   => cluster::handover,           Internal, None;
    POST "/cluster/users/_search"          => cluster::search_leg,         Internal, None;
    POST "/cluster/otp/_validate"          => cluster::otp_check,          Internal, None;
    POST "/cluster/otp/_send"              => cluster::otp_send,           Internal, None;
    POST "/cluster/tally"                  => cluster::tally,              Internal, None;
    POST "/cluster/audit"                  => cluster::audit,              Internal, None;
    POST "/cluster/import/users"           => import::part,                Internal, None;
}

/// The endpoint at `path`, whatever the method (every method of a path shares its listeners and key, so a
/// wrong method on an internal-only path is hidden like the right one).
pub fn at(path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_of_a_path_shares_its_listeners_and_key() {
        for e in ENDPOINTS {
            let first = at(e.path).expect("listed");
            assert_eq!(
                (first.listeners, first.key),
                (e.listeners, e.key),
                "{} {}",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn the_pods_own_endpoints_and_the_operator_views_are_internal() {
        for e in ENDPOINTS {
            let operator = e.path.starts_with("/cluster/")
                || e.path.starts_with("/admin/")
                || e.path == "/metrics";
            if operator {
                assert_eq!(e.listeners, Listeners::Internal, "{}", e.path);
            }
        }
        // egov-otp's create and search were never behind DIGIT's gateway
        assert_eq!(
            at("/otp/v1/_create").unwrap().listeners,
            Listeners::Internal
        );
        assert_eq!(
            at("/otp/v1/_search").unwrap().listeners,
            Listeners::Internal
        );
        assert_eq!(at("/otp/v1/_validate").unwrap().listeners, Listeners::Both);
    }
}
