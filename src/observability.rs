//! The Prometheus side of the metrics: the exporter (rendered on the internal listener's `/metrics`), the
//! HTTP request metrics, and the upkeep that samples what no event reports (storage size) and keeps the
//! exporter's histograms bounded. Every metric's name and description is in `actors::metrics`. Every label is
//! bounded: routes are patterns, statuses are classes, tenants are configured states.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use actors::metrics::{
    BUILD_INFO, HTTP_REQUESTS, HTTP_SECONDS, KAFKA_PRODUCE_SECONDS, STORAGE_BYTES,
};

/// Histogram buckets (seconds) for every `*_seconds` metric: 1 ms to 60 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus exporter, installed as the global recorder on first use. `None` when another
/// recorder was installed first (a test that inspects metrics directly).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            actors::metrics::describe();
            Some(handle)
        })
        .as_ref()
}

/// Records the build info gauge and creates the rare events' series at zero.
pub fn record_build_info() {
    actors::metrics::register_zero();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "git_sha" => env!("DIGIT_USER_GIT_SHA"))
        .set(1.0);
}

/// How often the upkeep runs.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// One upkeep round: the exporter's housekeeping and the storage size.
pub fn upkeep(store: &actors::store::Store) {
    if let Some(handle) = prometheus() {
        handle.run_upkeep();
    }
    if let Ok(bytes) = store.size_on_disk() {
        metrics::gauge!(STORAGE_BYTES).set(bytes as f64);
    }
}

/// Middleware: counts and times every request under its route pattern (never the raw path, which could
/// carry anything).
pub async fn http_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    SERIES.with_borrow_mut(|series| {
        let (count, seconds) = series.entry((route, method, status)).or_insert_with_key(
            |(route, method, status)| {
                (
                    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => *method, "status" => *status),
                    metrics::histogram!(HTTP_SECONDS, "route" => route.clone()),
                )
            },
        );
        count.increment(1);
        seconds.record(started.elapsed().as_secs_f64());
    });
    Ok(response)
}

/// A request series: route pattern, method, status class.
type Series = (String, &'static str, &'static str);

thread_local! {
    /// Each worker's handles of the series it served: the recorder's registry is asked once per series, not
    /// on every request. Bounded as the labels are (patterns × methods × classes).
    static SERIES: std::cell::RefCell<std::collections::HashMap<Series, (metrics::Counter, metrics::Histogram)>> =
        Default::default();
}

fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        _ => "other",
    }
}
