//! Which key a request is about, read from its query string and body where its endpoint's [`Key`] says, without binding the whole DIGIT
//! shape: the user (state tenant, userName), a user uuid or id, an OTP session (state tenant, mobile), a
//! token, or nothing (served where it lands) — and searches without such a key, which fan out.
//!
//! Extraction is lenient on purpose: when a key cannot be read the request is served locally, and the
//! handler gives the client the contract's validation error as it would on one pod.

use actors::homes::Homes;
use actors::partition::Partition;
use serde_json::Value;

use super::endpoints::Key;
use super::json::lower_keys;

/// What a request is routed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// (state tenant, name): a userName or an OTP session's mobile number.
    Name {
        /// State tenant (the part before the first dot).
        state: String,
        /// userName or mobile number, trimmed.
        name: String,
    },
    /// A uuid minted with its partition (users, OTP tokens).
    Uuid(uuid::Uuid),
    /// A user id minted with its partition.
    Id(i64),
    /// Several uuids, or several ids: their owner when they all live in one partition, else every pod.
    AnyOf(Vec<RouteKey>),
    /// An access token: its subject's uuid, once verified.
    AccessToken(String),
    /// A refresh token, which carries its user's partition.
    RefreshToken(String),
    /// No single owner: ask every pod (user searches).
    FanOut,
    /// Served where it lands.
    Local,
}

/// The key of a request whose endpoint keeps it where `rule` says, read from its query string and body.
pub fn route_key(rule: Key, query: &str, body: &[u8]) -> RouteKey {
    let json = || -> Value {
        serde_json::from_slice::<Value>(body)
            .map(lower_keys)
            .unwrap_or(Value::Null)
    };
    match rule {
        Key::None => RouteKey::Local,
        Key::NewUser => {
            let v = json();
            name_key(&v["user"]["tenantid"], &v["user"]["username"])
        }
        Key::UserUuid => uuid_key(&json()["user"]["uuid"]).unwrap_or(RouteKey::Local),
        Key::Search => search_key(&json()),
        Key::Reset => {
            let v = json();
            name_key(&v["tenantid"], &v["username"])
        }
        Key::PasswordChange => {
            let v = json();
            match text(&v["requestinfo"]["authtoken"]) {
                Some(token) => RouteKey::AccessToken(token.to_owned()),
                None => name_key(&v["tenantid"], &v["requestinfo"]["userinfo"]["username"]),
            }
        }
        Key::Logout => match text(&json()["access_token"]) {
            Some(token) => RouteKey::AccessToken(token.to_owned()),
            None => RouteKey::Local,
        },
        Key::Grant => token_key(query, body),
        Key::OtpSend => {
            let v = json();
            name_key(&v["otp"]["tenantid"], &v["otp"]["mobilenumber"])
        }
        Key::OtpIdentity => {
            let v = json();
            let identity = match &v["otp"]["identity"] {
                Value::Null => &v["otp"]["mobilenumber"],
                given => given,
            };
            name_key(&v["otp"]["tenantid"], identity)
        }
        Key::OtpUuid => uuid_key(&json()["otp"]["uuid"]).unwrap_or(RouteKey::Local),
        Key::QueryUser => query
            .split('&')
            .find_map(|pair| pair.strip_prefix("user="))
            .and_then(|u| super::request_info::user_param(Some(u)))
            .map_or(RouteKey::Local, RouteKey::Uuid),
    }
}

/// A non-blank string (numbers as DIGIT's Jackson would read them into a String).
fn text(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn owned_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        other => text(other).map(str::to_owned),
    }
}

/// The state of `tenant` as the store keys it: normalised (`PB.Amritsar` → `pb`), so every spelling of a
/// tenant routes to the pod that holds it.
fn state_of(tenant: &str) -> String {
    match actors::domain::TenantId::parse(tenant) {
        Ok(t) => t.state().to_string(),
        // not a tenant at all: the pod that takes it refuses it
        Err(_) => tenant.trim().to_owned(),
    }
}

/// The partition a uuid or id key lives in ([`Homes`]: imported users' from the directory, ours from their
/// bits); for several, theirs when it is one; `None` for any other key.
pub fn home_of(key: &RouteKey, homes: &Homes) -> Option<Partition> {
    match key {
        RouteKey::Uuid(u) => Some(homes.of_uuid(u)),
        RouteKey::Id(id) => Some(homes.of_id(*id)),
        RouteKey::AnyOf(keys) => {
            let first = home_of(keys.first()?, homes)?;
            keys.iter()
                .all(|k| home_of(k, homes) == Some(first))
                .then_some(first)
        }
        _ => None,
    }
}

fn name_key(tenant: &Value, name: &Value) -> RouteKey {
    match (text(tenant), owned_text(name)) {
        (Some(tenant), Some(name)) => RouteKey::Name {
            state: state_of(tenant),
            name: name.trim().to_owned(),
        },
        _ => RouteKey::Local,
    }
}

fn uuid_key(v: &Value) -> Option<RouteKey> {
    text(v)
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .map(RouteKey::Uuid)
}

/// The uuids (or the ids) named — one owner when they all live in one partition ([`home_of`]) — or a
/// userName with a tenant; else every pod.
fn search_key(v: &Value) -> RouteKey {
    let list = |field: &str| -> Vec<Value> {
        match &v[field] {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            one => vec![one.clone()],
        }
    };
    let uuids: Vec<RouteKey> = list("uuid").iter().filter_map(uuid_key).collect();
    let ids: Vec<RouteKey> = list("id")
        .iter()
        .filter_map(|i| {
            i.as_i64()
                .or_else(|| i.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .map(RouteKey::Id)
        .collect();
    let one_or_any = |mut keys: Vec<RouteKey>| match keys.len() {
        1 => keys.remove(0),
        _ => RouteKey::AnyOf(keys),
    };
    match (uuids.is_empty(), ids.is_empty()) {
        (false, true) => return one_or_any(uuids),
        (true, false) => return one_or_any(ids),
        (false, false) => return RouteKey::FanOut,
        (true, true) => {}
    }
    match name_key(&v["tenantid"], &v["username"]) {
        RouteKey::Local => RouteKey::FanOut,
        named => named,
    }
}

/// `/user/oauth/token`: the parameters come from the query string and the form body (query wins).
fn token_key(query: &str, body: &[u8]) -> RouteKey {
    let mut params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    params.extend(serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default());
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    match get("grant_type").as_deref() {
        Some("refresh_token") => {
            get("refresh_token").map_or(RouteKey::Local, RouteKey::RefreshToken)
        }
        Some("password") => match (get("tenantId"), get("username")) {
            (Some(tenant), Some(name)) => RouteKey::Name {
                state: state_of(&tenant),
                name,
            },
            _ => RouteKey::Local,
        },
        _ => RouteKey::Local,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of a request to `path`, as the routing middleware reads it.
    fn route_key(path: &str, query: &str, body: &[u8]) -> RouteKey {
        let rule = super::super::endpoints::at(path).map_or(Key::None, |e| e.key);
        super::route_key(rule, query, body)
    }

    fn name(state: &str, name: &str) -> RouteKey {
        RouteKey::Name {
            state: state.into(),
            name: name.into(),
        }
    }

    #[test]
    fn users_route_by_state_and_user_name_whatever_the_key_case() {
        let body = br#"{"RequestInfo":{},"User":{"UserName":" ravi ","TenantId":"pb.amritsar"}}"#;
        assert_eq!(
            route_key("/user/users/_createnovalidate", "", body),
            name("pb", "ravi")
        );
        let citizen = br#"{"user":{"userName":9876543210,"tenantId":"pb"}}"#;
        assert_eq!(
            route_key("/user/citizen/_create", "", citizen),
            name("pb", "9876543210")
        );
        let u = uuid::Uuid::new_v4();
        let update = format!(r#"{{"user":{{"uuid":"{u}"}}}}"#);
        assert_eq!(
            route_key("/user/users/_updatenovalidate", "", update.as_bytes()),
            RouteKey::Uuid(u)
        );
    }

    #[test]
    fn otp_requests_route_by_state_and_mobile() {
        let send =
            br#"{"otp":{"mobileNumber":"9876543210","tenantId":"pb.amritsar","type":"login"}}"#;
        assert_eq!(
            route_key("/user-otp/v1/_send", "", send),
            name("pb", "9876543210")
        );
        let validate = br#"{"otp":{"identity":"9876543210","tenantId":"pb","otp":"123456"}}"#;
        assert_eq!(
            route_key("/otp/v1/_validate", "", validate),
            name("pb", "9876543210")
        );
    }

    #[test]
    fn every_spelling_of_a_tenant_routes_alike() {
        for tenant in ["pb", "PB", " Pb.Amritsar "] {
            let send =
                format!(r#"{{"otp": {{"mobileNumber": "9876543210", "tenantId": "{tenant}"}}}}"#);
            assert_eq!(
                route_key("/user-otp/v1/_send", "", send.as_bytes()),
                name("pb", "9876543210"),
                "{tenant:?}"
            );
        }
        assert_eq!(
            route_key(
                "/user/oauth/token",
                "grant_type=password&username=EMP-1&tenantId=PB.AMRITSAR",
                b""
            ),
            name("pb", "EMP-1")
        );
    }

    #[test]
    fn searches_route_when_one_owner_is_named_and_fan_out_otherwise() {
        let a = actors::partition::mint_uuid(actors::partition::Partition(3));
        let b = actors::partition::mint_uuid(actors::partition::Partition(3));
        let c = actors::partition::mint_uuid(actors::partition::Partition(9));
        let body = |v: Value| v.to_string().into_bytes();
        let route = |v: Value| route_key("/user/_search", "", &body(v));
        let homes = Homes::default();
        let home = |v: Value| home_of(&route(v), &homes);
        assert_eq!(
            home(serde_json::json!({"uuid": [a.to_string(), b.to_string()]})),
            Some(Partition(3))
        );
        assert_eq!(
            home(serde_json::json!({"uuid": [a.to_string(), c.to_string()]})),
            None,
            "two owners: every pod"
        );
        let (id1, id2) = (
            actors::partition::mint_id(5, actors::partition::Partition(3)),
            actors::partition::mint_id(9, actors::partition::Partition(4)),
        );
        assert_eq!(route(serde_json::json!({"id": [id1]})), RouteKey::Id(id1));
        assert_eq!(home(serde_json::json!({"id": [id1, id2]})), None);
        // an imported user's keys carry no partition: the directory says where it lives
        homes.learn(actors::homes::HomeKey::Id(2_300_101), 4);
        homes.learn(actors::homes::HomeKey::Uuid(c), 3);
        assert_eq!(
            home(serde_json::json!({"id": [id2, 2_300_101]})),
            Some(Partition(4))
        );
        assert_eq!(
            home(serde_json::json!({"uuid": [a.to_string(), c.to_string()]})),
            Some(Partition(3))
        );
        assert_eq!(
            route(serde_json::json!({"uuid": [a.to_string()], "id": [id1]})),
            RouteKey::FanOut
        );
        assert_eq!(
            route(serde_json::json!({"userName": "ravi", "tenantId": "pb.amritsar"})),
            name("pb", "ravi")
        );
        assert_eq!(
            route(serde_json::json!({"mobileNumber": "9876543210", "tenantId": "pb"})),
            RouteKey::FanOut
        );
    }

    #[test]
    fn token_requests_read_query_and_form_with_the_query_first() {
        assert_eq!(
            route_key(
                "/user/oauth/token",
                "grant_type=password&username=ravi&tenantId=pb.amritsar",
                b"password=x"
            ),
            name("pb", "ravi")
        );
        assert_eq!(
            route_key(
                "/user/oauth/token",
                "",
                b"grant_type=refresh_token&refresh_token=abc"
            ),
            RouteKey::RefreshToken("abc".into())
        );
        assert_eq!(
            route_key("/user/oauth/token", "", b"grant_type=password"),
            RouteKey::Local
        );
    }

    #[test]
    fn unreadable_bodies_and_other_paths_stay_local() {
        assert_eq!(
            route_key("/user/users/_createnovalidate", "", b"{not json"),
            RouteKey::Local
        );
        assert_eq!(
            route_key("/user/_details", "access_token=x", b""),
            RouteKey::Local
        );
        assert_eq!(route_key("/health/ready", "", b""), RouteKey::Local);
        assert_eq!(
            route_key("/user/_logout", "", br#"{"access_token":"t"}"#),
            RouteKey::AccessToken("t".into())
        );
    }
}
