//! The parts of DIGIT's `RequestInfo` this service reads: `userInfo` (set by the gateway on authenticated
//! routes) and the gateway marker header. Every other key is ignored, whatever its type.

use actix_web::HttpRequest;
use serde::Deserialize;

use actors::domain::masking::{PiiField, PlainRequest, Viewer};

use super::json::{opt_i64, opt_string};

/// `RequestInfo` (keys already folded to lower case).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestInfoIn {
    /// `userInfo`
    pub userinfo: Option<UserInfoIn>,
    /// `msgId` (`"<ts>|<locale>"`)
    #[serde(deserialize_with = "opt_string")]
    pub msgid: Option<String>,
    /// `authToken` (the gateway authenticates with it; the password change trusts it over `userInfo`)
    #[serde(deserialize_with = "opt_string")]
    pub authtoken: Option<String>,
    /// `plainAccessRequest`: one record's masked fields asked in clear.
    pub plainaccessrequest: Option<PlainAccessIn>,
}

/// `RequestInfo.plainAccessRequest`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlainAccessIn {
    /// `recordId`: the uuid of the user.
    #[serde(deserialize_with = "opt_string")]
    pub recordid: Option<String>,
    /// `plainRequestFields`: the policy's field names.
    pub plainrequestfields: Vec<String>,
}

/// `RequestInfo.userInfo`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserInfoIn {
    /// numeric id
    #[serde(deserialize_with = "opt_i64")]
    pub id: Option<i64>,
    /// uuid
    #[serde(deserialize_with = "opt_string")]
    pub uuid: Option<String>,
    /// userName
    #[serde(deserialize_with = "opt_string")]
    pub username: Option<String>,
    /// roles
    pub roles: Option<Vec<UserInfoRole>>,
    /// `type` (`EMPLOYEE`, `CITIZEN`, `SYSTEM`)
    #[serde(rename = "type", deserialize_with = "opt_string")]
    pub user_type: Option<String>,
}

/// A role of `userInfo`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserInfoRole {
    /// code
    #[serde(deserialize_with = "opt_string")]
    pub code: Option<String>,
}

impl RequestInfoIn {
    /// The caller's numeric id.
    pub fn caller_id(&self) -> Option<i64> {
        self.userinfo.as_ref().and_then(|u| u.id)
    }

    /// The caller's uuid.
    pub fn caller_uuid(&self) -> Option<&str> {
        self.userinfo.as_ref().and_then(|u| u.uuid.as_deref())
    }

    /// Who is looking, for the PII policy: the caller's uuid, role codes and user type (as one more role, as
    /// DIGIT adds it; no `userInfo` is DIGIT's default, an EMPLOYEE without roles) and its plain-access
    /// request.
    pub fn viewer(&self) -> Viewer {
        let info = self.userinfo.as_ref();
        let mut roles: Vec<String> = info
            .and_then(|u| u.roles.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|r| r.code.clone())
            .collect();
        let user_type = info
            .map_or(Some("EMPLOYEE"), |u| u.user_type.as_deref())
            .map(str::to_ascii_uppercase);
        if let Some(t) = user_type
            && !roles.iter().any(|r| r.eq_ignore_ascii_case(&t))
        {
            roles.push(t);
        }
        Viewer {
            uuid: self.caller_uuid().map(str::to_owned),
            roles,
            plain_request: self.plainaccessrequest.as_ref().and_then(|p| {
                Some(PlainRequest {
                    record: p.recordid.clone()?,
                    fields: p
                        .plainrequestfields
                        .iter()
                        .filter_map(|f| PiiField::parse(f))
                        .collect(),
                })
            }),
        }
    }

    /// Whether the caller holds any of `roles`.
    pub fn has_any_role(&self, roles: &[String]) -> bool {
        self.userinfo
            .as_ref()
            .and_then(|u| u.roles.as_ref())
            .is_some_and(|rs| {
                rs.iter()
                    .filter_map(|r| r.code.as_deref())
                    .any(|c| roles.iter().any(|r| r == c))
            })
    }
}

/// Whether DIGIT's gateway forwarded the request (`x-pass-through-gateway: true`); otherwise the call counts
/// as inter-service, as in DIGIT's tracer.
pub fn through_gateway(req: &HttpRequest) -> bool {
    req.headers()
        .get("x-pass-through-gateway")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Request extension: the routing middleware found this request's key owned here (a search by it needs no
/// fan-out).
#[derive(Debug, Clone, Copy)]
pub struct OwnedHere;

/// Whether `req` arrived on the internal listener (internal-only routes answer 404 elsewhere).
pub(crate) fn on_internal_listener(
    req: &actix_web::HttpRequest,
    state: &super::state::AppState,
) -> bool {
    req.app_config().local_addr() == state.internal_addr
}

/// Whether `req` was forwarded by another pod: the mark counts only on the internal listener, which only the
/// app's pods reach, so a client cannot use it to skip routing.
pub fn from_peer(req: &actix_web::HttpRequest, state: &super::state::AppState) -> bool {
    req.headers().contains_key(crate::cluster::FORWARDED) && on_internal_listener(req, state)
}

/// The client's address for the per-IP caps. A request another pod forwarded carries the address that pod
/// worked out (believed only on the internal listener, which only the app's pods reach).
pub fn client_ip(
    req: &actix_web::HttpRequest,
    state: &super::state::AppState,
) -> Option<std::net::IpAddr> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if from_peer(req, state)
        && let Some(ip) = header(crate::cluster::CLIENT_IP).and_then(|v| v.parse().ok())
    {
        return Some(ip);
    }
    let peer = req.peer_addr()?.ip();
    let forwarded_for: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(
        state
            .proxies
            .client(peer, &forwarded_for, header("x-real-ip")),
    )
}

/// The user a query's `user=` names, when it is a uuid (the admin endpoints of one user).
pub fn user_param(raw: Option<&str>) -> Option<uuid::Uuid> {
    raw.and_then(|u| uuid::Uuid::parse_str(u.trim()).ok())
}
