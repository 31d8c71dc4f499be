//! Reading DIGIT request bodies: a size cap checked before and while reading, JSON parsed once, object keys
//! folded to lower case (egov-user binds keys case-insensitively: `User`/`user`, `permanentPincode`), and
//! lenient scalars as Jackson coerces them (numbers for strings, numeric strings for numbers, `"true"`).

use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::error::ApiError;

/// Request-body cap, stored in app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The longest string any request field may hold (characters), stored in app data: DIGIT's fields are
/// short, and a field's own rule (a `Size`, a pattern) may be tighter.
#[derive(Debug, Clone, Copy)]
pub struct StringLimit(pub usize);

/// The string limit of `req`'s app (4096 when none is configured).
pub fn string_limit(req: &HttpRequest) -> usize {
    req.app_data::<StringLimit>().map_or(4096, |l| l.0)
}

/// The path of the first string in `value` longer than `max` characters (`user.name`, `roles[2].code`).
pub fn overlong_string(value: &Value, max: usize) -> Option<String> {
    match value {
        Value::String(s) if s.chars().count() > max => Some(String::new()),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.chars().count() > max {
                // a key is a field name: named by its first characters only
                return Some(format!("{}…", k.chars().take(32).collect::<String>()));
            }
            overlong_string(v, max).map(|rest| {
                if rest.is_empty() || rest.starts_with('[') {
                    format!("{k}{rest}")
                } else {
                    format!("{k}.{rest}")
                }
            })
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            overlong_string(v, max).map(|rest| match rest.as_str() {
                "" => format!("[{i}]"),
                r if r.starts_with('[') => format!("[{i}]{r}"),
                r => format!("[{i}].{r}"),
            })
        }),
        _ => None,
    }
}

/// A field longer than the string limit.
pub fn too_long(path: &str, max: usize) -> ApiError {
    ApiError::custom(
        "FIELD_TOO_LONG",
        format!("{path} is longer than {max} characters"),
    )
}

/// How long a request body may take to arrive once the headers are in, stored in app data (the headers have
/// actix's own timeout): a client dribbling a body keeps a connection no longer than this.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// The body timeout of `req`'s app (5 s when none is configured, as in tests of single handlers).
pub fn body_timeout(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(5), |t| t.0)
}

/// The answer to a body that did not arrive in time.
pub fn body_too_slow(timeout: std::time::Duration) -> ApiError {
    ApiError::request_timeout(format!(
        "The request body did not arrive within {} seconds",
        timeout.as_secs_f64()
    ))
}

/// A body that could not be read (the connection broke, the chunked framing was wrong): the client's fault.
pub fn unreadable(e: impl std::fmt::Display) -> ApiError {
    ApiError::exception(
        "JsonParseException",
        format!("request body could not be read: {e}"),
    )
}

/// A JSON body with every object key folded to lower case (empty body: `None`).
pub struct LowerJson(pub Option<Value>);

impl FromRequest for LowerJson {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = CappedBody::from_request(req, payload);
        let max = string_limit(req);
        Box::pin(async move {
            let value = parse(&body.await?.0)?;
            if let Some(path) = value.as_ref().and_then(|v| overlong_string(v, max)) {
                return Err(too_long(&path, max));
            }
            Ok(LowerJson(value))
        })
    }
}

/// A raw body read up to the configured cap (checked against `Content-Length` first, then while reading).
pub struct CappedBody(pub Bytes);

impl FromRequest for CappedBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
        let body = read_capped(req, payload, limit);
        Box::pin(async move { Ok(CappedBody(body.await?)) })
    }
}

/// Reads a request's body of at most `limit` bytes within the body timeout (413 beyond the limit, 408
/// when too slow).
pub fn read_capped(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> LocalBoxFuture<'static, Result<Bytes, ApiError>> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let timeout = body_timeout(req);
    let mut payload = payload.take();
    Box::pin(async move {
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut body = BytesMut::new();
        loop {
            let next = tokio::time::timeout_at(deadline, payload.next())
                .await
                .map_err(|_| body_too_slow(timeout))?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(unreadable)?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::custom(
        "PAYLOAD_TOO_LARGE",
        format!("Request body is larger than the limit of {limit} bytes"),
    )
}

/// Parses a body; blank is `None`.
pub fn parse(body: &Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::custom("JsonParseException", format!("Malformed JSON: {e}")))?;
    Ok(Some(lower_keys(value)))
}

/// Folds every object key to lower case, recursively.
pub fn lower_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_lowercase(), lower_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lower_keys).collect()),
        other => other,
    }
}

/// The body that a handler requires: missing ⇒ DIGIT's `MissingJsonException`.
/// Every DIGIT body is an object; an array or scalar is refused rather than bound field by position.
pub fn require(body: LowerJson) -> Result<Value, ApiError> {
    match body.0 {
        None => Err(ApiError::custom(
            "MissingJsonException",
            "JSON body has errors or is missing",
        )),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::custom(
            "JsonMappingException",
            "Failed to parse field - (body). Expected type is a JSON object",
        )),
    }
}

/// Deserialises `value` into `T`, naming the offending field (`user.dob`) in DIGIT's `JsonMappingException`.
pub fn deserialize_at<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = match (prefix.is_empty(), path == ".") {
            (true, _) => path,
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{path}"),
        };
        ApiError::custom(
            "JsonMappingException",
            format!("Failed to parse field - {path}. {}", e.into_inner()),
        )
    })
}

/// A string, or a number or boolean written as text.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(serde::de::Error::custom("Expected type is String")),
    }
}

/// An integer, or one written as text; a blank string reads as absent.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => to_i64(&v).map_err(serde::de::Error::custom),
    }
}

fn to_i64(v: &Value) -> Result<Option<i64>, &'static str> {
    const MSG: &str = "Expected type is long";
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or(MSG),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s.trim().parse().map(Some).map_err(|_| MSG),
        _ => Err(MSG),
    }
}

/// A boolean, or `"true"`/`"false"`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(_) => Err(serde::de::Error::custom("Expected type is boolean")),
    }
}

/// A list of strings (a single string reads as a one-element list).
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let item = |v: Value| match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("Expected type is String[]")),
    };
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter(|v| !v.is_null())
            .map(item)
            .collect(),
        Some(v) => item(v).map(|s| vec![s]),
    }
}

/// A list of integers (a single one reads as a one-element list).
pub fn i64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    let items = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(v) => vec![v],
    };
    let mut out = Vec::new();
    for v in items {
        if let Some(n) =
            to_i64(&v).map_err(|_| serde::de::Error::custom("Expected type is Long[]"))?
        {
            out.push(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_overlong_string_is_named_by_its_path() {
        let long = "x".repeat(11);
        let v =
            serde_json::json!({"user": {"name": "ok", "roles": [{"code": "A"}, {"code": long}]}});
        assert_eq!(
            overlong_string(&v, 10).as_deref(),
            Some("user.roles[1].code")
        );
        assert_eq!(
            overlong_string(&serde_json::json!([["a", long]]), 10).as_deref(),
            Some("[0][1]")
        );
        assert_eq!(overlong_string(&v, 11), None);
        assert_eq!(
            overlong_string(&serde_json::json!({"n": "अ".repeat(10)}), 10),
            None,
            "characters, not bytes"
        );
    }

    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    #[derive(Default)]
    struct Probe {
        #[serde(deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(deserialize_with = "opt_i64")]
        n: Option<i64>,
        #[serde(deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(deserialize_with = "i64_list")]
        ids: Vec<i64>,
    }

    #[test]
    fn keys_fold_to_lower_case_at_every_depth() {
        let v = lower_keys(json!({"User": {"permanentPinCode": "1", "Roles": [{"Code": "X"}]}}));
        assert_eq!(
            v,
            json!({"user": {"permanentpincode": "1", "roles": [{"code": "X"}]}})
        );
    }

    #[test]
    fn scalars_are_lenient_like_jackson() {
        let p: Probe = deserialize_at(
            json!({"s": 9876543210u64, "n": "42", "b": "true", "ids": 7}),
            "",
        )
        .unwrap();
        assert_eq!(
            (p.s.as_deref(), p.n, p.b, p.ids),
            (Some("9876543210"), Some(42), Some(true), vec![7])
        );
        let p: Probe = deserialize_at(json!({"n": "", "s": null}), "").unwrap();
        assert_eq!((p.s, p.n), (None, None));
    }

    #[test]
    fn type_errors_name_the_field() {
        let e = deserialize_at::<Probe>(json!({"n": "abc"}), "user").unwrap_err();
        assert_eq!(e.errors()[0].code, "JsonMappingException");
        assert_eq!(
            e.errors()[0].message,
            "Failed to parse field - user.n. Expected type is long"
        );
    }

    #[test]
    fn blank_and_malformed_bodies() {
        assert_eq!(parse(&Bytes::from_static(b"  ")).unwrap(), None);
        let e = parse(&Bytes::from_static(b"{\"a\":")).unwrap_err();
        assert_eq!(e.errors()[0].code, "JsonParseException");
    }
}
