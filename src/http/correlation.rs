//! Correlation ids, as DIGIT's tracer keeps them: a request's id is its `x-correlation-id` header (what DIGIT's
//! gateway and every tracer-instrumented service send), else `RequestInfo.correlationId` of a JSON body, else
//! a new UUID. The middleware puts it on the request (so a request forwarded to the owning pod carries it),
//! on every log line written while the request is served (the span field `correlation_id`), on the pods' own
//! calls made for the request, and on the response (`x-correlation-id`, as DIGIT's gateway answers).
//!
//! An id is echoed into logs and headers, so only a short run of letters, digits and `. _ : -` is taken
//! from a client (nothing that could fake a field of a log line); anything else is replaced by a new id.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage};
use tracing::Instrument;

use super::error::ApiError;
use super::json::{BodyLimit, CappedBody};

/// The header DIGIT's tracer reads and its gateway sets.
pub const HEADER: HeaderName = HeaderName::from_static(crate::telemetry::CORRELATION_HEADER);

/// Longest id taken from a client.
const MAX_LEN: usize = 128;

/// The middleware.
pub async fn correlate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let given = req.headers().get(&HEADER).and_then(usable);
    let id = match given {
        Some(id) => id,
        None => match from_body(&mut req).await {
            Ok(id) => id.unwrap_or_else(fresh),
            // the body was read here and could not be: answered here, in the endpoint's shape
            Err(e) => {
                let now = req
                    .app_data::<actix_web::web::Data<crate::http::state::AppState>>()
                    .map_or(0, |s| s.login.sessions().now_ms());
                let e = e.in_shape_of(req.path(), now);
                let mut response = req.error_response(e).map_into_right_body();
                response.headers_mut().insert(HEADER, fresh());
                return Ok(response);
            }
        },
    };
    req.headers_mut().insert(HEADER, id.clone());
    // at ERROR level, so the span (and the id on every line) exists whatever level the logs are filtered to
    let span = tracing::error_span!("request", correlation_id = id.to_str().unwrap_or_default());
    let serving = std::sync::Arc::from(id.to_str().unwrap_or_default());
    let mut response =
        crate::telemetry::with_correlation_id(serving, next.call(req).instrument(span))
            .await?
            .map_into_left_body();
    // a response relayed from the owning pod already carries the id that pod served under
    if !response.headers().contains_key(&HEADER) {
        response.headers_mut().insert(HEADER, id);
    }
    Ok(response)
}

/// A client's id when it is short and plain.
fn usable(value: &HeaderValue) -> Option<HeaderValue> {
    let bytes = value.as_bytes();
    let plain = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(b));
    (!bytes.is_empty() && bytes.len() <= MAX_LEN && plain).then(|| value.clone())
}

/// A new id: a version-4 UUID from the thread's own generator (no system call per request, as the OS
/// generator `Uuid::new_v4` reads would be).
fn fresh() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
        .expect("a uuid is a header value")
}

/// `RequestInfo.correlationId` (or `requestInfo.`) of a JSON POST without the header (DIGIT's gateway sends
/// the header, so this is the rare direct call): the body, when its length is declared and within the cap,
/// is read, parsed only when it mentions a correlation id, and put back for the handler.
async fn from_body(req: &mut ServiceRequest) -> Result<Option<HeaderValue>, ApiError> {
    let json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let limit = req.app_data::<BodyLimit>().map_or(0, |l| l.0);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // only a body of a declared length within the cap is read here; any other is the handler's to refuse
    if !json || req.method() != actix_web::http::Method::POST || declared.is_none_or(|n| n > limit)
    {
        return Ok(None);
    }
    let body = {
        let (http, payload) = req.parts_mut();
        CappedBody::from_request(http, payload).await?.0
    };
    let id = body
        .windows(b"correlationid".len())
        .any(|w| w.eq_ignore_ascii_case(b"correlationid"))
        .then(|| correlation_id_of(&body))
        .flatten();
    req.set_payload(body.into());
    Ok(id)
}

fn correlation_id_of(body: &[u8]) -> Option<HeaderValue> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let info = value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("requestinfo"))?
        .1
        .as_object()?;
    let id = info
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("correlationid"))?
        .1
        .as_str()?;
    usable(&HeaderValue::from_str(id).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_clients_are_short_visible_ascii() {
        assert!(usable(&HeaderValue::from_static("5f0e2c1a-8d3b-4c7e")).is_some());
        assert!(usable(&HeaderValue::from_static("")).is_none());
        assert!(usable(&HeaderValue::from_static("a b")).is_none());
        assert!(
            usable(&HeaderValue::from_static("x\"level=ERROR")).is_none(),
            "nothing that fakes a log field"
        );
        assert!(usable(&HeaderValue::from_str(&"x".repeat(129)).unwrap()).is_none());
        assert!(usable(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_none());
    }

    #[test]
    fn the_body_id_is_request_infos_in_any_key_case() {
        let id =
            |body: &str| correlation_id_of(body.as_bytes()).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            id(r#"{"RequestInfo": {"apiId": "Rainmaker", "correlationId": "c-1"}}"#),
            Some("c-1".into())
        );
        assert_eq!(
            id(r#"{"requestInfo": {"CORRELATIONID": "c-2"}}"#),
            Some("c-2".into())
        );
        assert_eq!(
            id(r#"{"otp": {"correlationId": "c-3"}}"#),
            None,
            "only RequestInfo's"
        );
        assert_eq!(
            id(r#"{"RequestInfo": {"correlationId": "has space"}}"#),
            None
        );
        assert_eq!(id(r#"{"RequestInfo": {"correlationId": 5}}"#), None);
        assert_eq!(id("not json"), None);
    }
}
