//! `/user/oauth/token` (login and refresh), `/user/_details` (token → user, the gateway's hot path) and
//! `/user/_logout`: DIGIT's wire shapes (contract 4.4.1–4.4.3) with E3 and E4 errors.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::domain::UserType;
use actors::store::StoreError;
use serde::Serialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::domain::{login_refused, oauth_invalid_request};
use super::error::{ApiError, ErrorEntry, no_store};
use super::json::{CappedBody, LowerJson};
use super::uniform::UniformAnswer;
use crate::config::OAuthClient;
use crate::http::state::AppState;
use crate::service::login::{LoginError, PasswordGrant};
use crate::service::sessions::{Client, Issued, SessionError};
use crate::service::tokens::Snapshot;

/// Request parameters from the query string and a form body (the query wins, as in Spring).
pub(crate) struct Params(Vec<(String, Zeroizing<String>)>);

impl Params {
    fn read(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        Self::from_parts(req.query_string(), form.then_some(body))
    }

    /// The parameters of query string `query` and, when the body is a form, of `form`.
    pub(crate) fn from_parts(query: &str, form: Option<&[u8]>) -> Result<Self, ApiError> {
        let bad = |_| oauth_invalid_request("Malformed form parameters");
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(bad)?;
        if let Some(body) = form.filter(|b| !b.is_empty()) {
            pairs.extend(serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(bad)?);
        }
        Ok(Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v)))
                .collect(),
        ))
    }

    /// The first non-blank value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .find(|v| !v.is_empty())
    }
}

/// HTTP Basic client authentication against the configured clients; secrets compared in constant time.
fn authenticate_client(req: &HttpRequest, clients: &[OAuthClient]) -> Result<(), ApiError> {
    use base64::Engine;
    let unauthorized =
        |description: &str| ApiError::oauth(StatusCode::UNAUTHORIZED, "unauthorized", description);
    let Some(header) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    else {
        return Err(unauthorized(
            "Full authentication is required to access this resource",
        ));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| unauthorized("Bad credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| unauthorized("Bad credentials"))?;
    let known = clients.iter().fold(false, |found, c| {
        let same = c.id == id && bool::from(c.secret.as_bytes().ct_eq(secret.as_bytes()));
        found | same
    });
    if known {
        Ok(())
    } else {
        Err(unauthorized("Bad credentials"))
    }
}

/// The scopes asked for: `read` and `write` only; none ⇒ both.
fn scope(params: &Params) -> Result<String, ApiError> {
    let Some(asked) = params.get("scope") else {
        return Ok("read write".to_owned());
    };
    let mut scopes: Vec<&str> = asked.split([' ', ',']).filter(|s| !s.is_empty()).collect();
    if let Some(bad) = scopes.iter().find(|s| !matches!(**s, "read" | "write")) {
        return Err(ApiError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("Invalid scope: {bad}"),
        ));
    }
    scopes.sort_unstable();
    scopes.dedup();
    Ok(scopes.join(" "))
}

/// The `UserRequest` of a token response, in the contract's key order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserRequestOut<'a> {
    id: i64,
    uuid: &'a str,
    user_name: &'a str,
    name: Option<&'a str>,
    mobile_number: Option<&'a str>,
    email_id: Option<&'a str>,
    locale: Option<&'a str>,
    #[serde(rename = "type")]
    user_type: &'a str,
    roles: Vec<RoleOut<'a>>,
    active: bool,
    tenant_id: &'a str,
    permanent_city: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleOut<'a> {
    name: &'a str,
    code: &'a str,
    tenant_id: &'a str,
}

fn roles(s: &Snapshot) -> Vec<RoleOut<'_>> {
    s.roles
        .iter()
        .map(|r| RoleOut {
            name: &r.name,
            code: &r.code,
            tenant_id: &r.tenant_id,
        })
        .collect()
}

/// The token response body (contract 4.4.1) with its no-store headers.
pub fn token_response(issued: &Issued) -> HttpResponse {
    let s = &issued.snapshot;
    let body = serde_json::json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "refresh_token": issued.refresh_token,
        "expires_in": issued.expires_in,
        "scope": issued.scope,
        "ResponseInfo": {"api_id": "", "ver": "", "ts": "", "res_msg_id": "", "msg_id": "",
                         "status": "Access Token generated successfully"},
        "UserRequest": UserRequestOut {
            id: s.id,
            uuid: &s.uuid,
            user_name: &s.user_name,
            name: s.name.as_deref(),
            mobile_number: s.mobile_number.as_deref(),
            email_id: s.email_id.as_deref(),
            locale: s.locale.as_deref(),
            user_type: &s.user_type,
            roles: roles(s),
            active: s.active,
            tenant_id: &s.tenant_id,
            permanent_city: s.permanent_city.as_deref(),
        },
    });
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    response.json(body)
}

/// `POST /user/oauth/token`
#[utoipa::path(
    post,
    path = "/user/oauth/token",
    tag = "login",
    summary = "Login (password or OTP as the password) and refresh; parameters in the query string or a form body; HTTP Basic client authentication",
    request_body(content = crate::http::openapi::auth::TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The tokens", body = crate::http::openapi::auth::TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type", body = crate::http::openapi::schemas::OAuthError),
        (status = 401, description = "unauthorized (client), invalid_token (an expired refresh token)", body = crate::http::openapi::schemas::OAuthError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::OAuthError),
        (status = 429, description = "Too many failed logins from this network (`Retry-After`)", body = crate::http::openapi::schemas::OAuthError),
        (status = 503, description = "temporarily_unavailable (`Retry-After`); the routing 503s of E1", body = crate::http::openapi::schemas::OAuthError),
        (status = 500, description = "server_error", body = crate::http::openapi::schemas::OAuthError),
    )
)]
pub async fn token(
    req: HttpRequest,
    body: Result<CappedBody, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate_client(&req, &state.settings.tokens.clients)?;
    let body = body.map_err(|e| e.in_shape_of(req.path(), state.login.sessions().now_ms()))?;
    let params = Params::read(&req, &body.0)?;
    let max = super::json::string_limit(&req);
    if params
        .0
        .iter()
        .any(|(k, v)| k.chars().count() > max || v.chars().count() > max)
    {
        return Err(oauth_invalid_request(&format!(
            "a parameter is longer than {max} characters"
        )));
    }
    // an address (or its subnet) that failed too often is refused before any credential is checked
    let source = super::request_info::client_ip(&req, &state);
    if let Some(ip) = source
        && let Err(wait_ms) = state.tally.gate(ip).await
    {
        metrics::counter!(actors::metrics::LOGIN_THROTTLED).increment(1);
        return Err(ApiError::oauth(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_request",
            "Too many failed logins from this network; try again later",
        )
        .retry_after(u64::try_from(wait_ms.max(1000) / 1000).unwrap_or(1)));
    }
    let envelope = UniformAnswer::open(&state.settings.security);
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(200).collect::<String>());
    let issued = match params.get("grant_type") {
        None => return Err(oauth_invalid_request("Missing grant type")),
        Some("password") => {
            let scope = scope(&params)?;
            let tenant = params
                .get("tenantId")
                .ok_or_else(|| oauth_invalid_request("TenantId is mandatory"))?;
            let user_type = params
                .get("userType")
                .and_then(UserType::parse)
                .ok_or_else(|| {
                    oauth_invalid_request("User Type is mandatory and has to be a valid type")
                })?;
            // a request without a credential is malformed: it consumes nothing and counts nothing
            let (Some(user_name), Some(password)) =
                (params.get("username"), params.get("password"))
            else {
                return Err(oauth_invalid_request("Invalid login credentials"));
            };
            let grant = PasswordGrant {
                user_name: user_name.to_owned(),
                password: Zeroizing::new(password.to_owned()),
                tenant: tenant.to_owned(),
                user_type,
                scope,
                source,
                user_agent: user_agent.clone(),
            };
            state.login.password_grant(grant).await
        }
        Some("refresh_token") => {
            let token = params
                .get("refresh_token")
                .ok_or_else(|| oauth_invalid_request("Missing refresh token"))?;
            let client = Client::new(source, user_agent.as_deref());
            state.login.refresh_grant(token, &client).await
        }
        Some(other) => {
            return Err(ApiError::oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "Unsupported grant type: {}",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    if let (
        Some(ip),
        Err(LoginError::BadCredentials | LoginError::Locked | LoginError::InvalidRefresh),
    ) = (source, &issued)
    {
        state.tally.fail(ip).await;
    }
    let issued = match issued {
        // a locked account (or an address blocked for it) answers as wrong credentials, in the same time
        Err(LoginError::Locked) if envelope.uniform() => Err(LoginError::BadCredentials),
        issued => issued,
    };
    if issued.is_err() {
        envelope.close().await;
    }
    let issued = issued.map_err(login_refused)?;
    Ok(token_response(&issued))
}

/// `GET /user/oauth/token`: only POST is served.
#[utoipa::path(
    get,
    path = "/user/oauth/token",
    tag = "login",
    summary = "Not supported: answers 405 as Spring did",
    responses(
        (status = 405, description = "method_not_allowed", body = crate::http::openapi::schemas::OAuthError),
    )
)]
pub async fn token_get() -> Result<HttpResponse, ApiError> {
    Err(ApiError::oauth(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Request method 'GET' not supported",
    ))
}

/// The `/user/_details` body, in the contract's key order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailsOut<'a> {
    id: i64,
    user_name: &'a str,
    name: Option<&'a str>,
    mobile_number: Option<&'a str>,
    email_id: Option<&'a str>,
    locale: Option<&'a str>,
    #[serde(rename = "type")]
    user_type: &'a str,
    roles: Vec<RoleOut<'a>>,
    active: bool,
    actions: Option<()>,
    tenant_id: &'a str,
    uuid: &'a str,
}

/// `POST /user/_details?access_token=` (or a form field): answered from the token and the revocation set.
#[utoipa::path(
    post,
    path = "/user/_details",
    tag = "login",
    summary = "The user of an access token (the gateway's check of every request)",
    params(
        ("access_token" = Option<String>, Query, description = "The access token (or in a form body)"),
    ),
    responses(
        (status = 200, description = "The user", body = crate::http::openapi::auth::Details),
        (status = 400, description = "No access_token, or an invalid, expired or revoked one (InvalidAccessTokenException)", body = crate::http::openapi::schemas::TracerError),
        (status = 408, description = "The body did not arrive in time", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn details(
    req: HttpRequest,
    body: CappedBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // the hot path: a token needs no decoding (base64url and dots), so take it straight from the query
    let raw = raw_query_token(req.query_string());
    let params;
    let token = match raw {
        Some(token) => token,
        None => {
            params = Params::read(&req, &body.0).map_err(|_| missing_access_token())?;
            params
                .get("access_token")
                .ok_or_else(missing_access_token)?
        }
    };
    let invalid = || {
        ApiError::exception(
            "InvalidAccessTokenException",
            Some("Invalid Access Token Exception".to_owned()),
        )
    };
    // no token is longer than any field may be: refused before it is hashed or parsed
    if token.len() > super::json::string_limit(&req) {
        return Err(invalid());
    }
    let verified = state
        .login
        .sessions()
        .verify(token)
        .map_err(|_| invalid())?;
    let body = verified.details.get_or_init(|| {
        let s = &verified.snapshot;
        serde_json::to_vec(&DetailsOut {
            id: s.id,
            user_name: &s.user_name,
            name: s.name.as_deref(),
            mobile_number: s.mobile_number.as_deref(),
            email_id: s.email_id.as_deref(),
            locale: s.locale.as_deref(),
            user_type: &s.user_type,
            roles: roles(s),
            active: s.active,
            actions: None,
            tenant_id: &s.tenant_id,
            uuid: &s.uuid,
        })
        .expect("a user renders as JSON")
    });
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body.clone()))
}

/// The bytes of a token that needs no decoding: base64url and dots.
static TOKEN_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
        b += 1;
    }
    table
};

/// `access_token` from a query string when its value needs no percent-decoding (a JWT never does).
fn raw_query_token(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| TOKEN_BYTE[usize::from(b)]))
}

fn missing_access_token() -> ApiError {
    ApiError::many(vec![ErrorEntry {
        code: String::new(),
        message: "Required String parameter 'access_token' is not present".into(),
        description: None,
        params: Some(vec!["access_token".into()]),
    }])
}

/// `POST /user/_logout` with `{"access_token": ...}`: revokes the token and its refresh family.
#[utoipa::path(
    post,
    path = "/user/_logout",
    tag = "login",
    summary = "Ends an access token's session",
    request_body = crate::http::openapi::auth::LogoutRequest,
    responses(
        (status = 200, description = "Logged out", body = crate::http::openapi::schemas::LogoutInfo),
        (status = 400, description = "Logout failed", body = crate::http::openapi::schemas::LogoutError),
        (status = 503, description = "Logout failed: retry (`Retry-After`)", body = crate::http::openapi::schemas::LogoutError),
        (status = 500, description = "An internal error (logged)", body = crate::http::openapi::schemas::TracerError),
    )
)]
pub async fn logout(
    body: Result<LowerJson, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.login.sessions().now_ms();
    let token = body
        .ok()
        .and_then(|b| b.0)
        .and_then(|v| match v.get("access_token") {
            Some(Value::String(t)) => Some(t.trim().to_owned()),
            _ => None,
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::logout_failed(now))?;
    match state.login.sessions().logout(&token).await {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "apiId": "", "ver": "", "ts": now, "resMsgId": "", "msgId": "",
            "status": "Logout successfully",
        }))),
        Err(SessionError::Invalid) => Err(ApiError::logout_failed(now)),
        Err(SessionError::Store(StoreError::Journal(e))) => {
            tracing::warn!(error = %e, "a logout not made: the journal or the revocations topic did not confirm");
            Err(ApiError::logout_unavailable(now))
        }
        Err(e) => Err(ApiError::internal(&e)),
    }
}
