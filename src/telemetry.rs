//! Structured logs through `tracing`: text for people, JSON for collectors; `RUST_LOG` overrides the level.
//! And the correlation id of the request a task serves, so calls made for it carry it on.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    // colours only for a terminal: each request's span is formatted when it opens, and escape codes
    // would cost every request their formatting and every collector their noise
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

tokio::task_local! {
    static CORRELATION_ID: std::sync::Arc<str>;
}

/// The header DIGIT's tracer reads and its gateway sets.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Runs `work` as the serving of the request with correlation id `id`.
pub async fn with_correlation_id<F: std::future::Future>(
    id: std::sync::Arc<str>,
    work: F,
) -> F::Output {
    CORRELATION_ID.scope(id, work).await
}

/// The correlation id of the request being served on this task, if any.
pub fn correlation_id() -> Option<std::sync::Arc<str>> {
    CORRELATION_ID.try_with(std::sync::Arc::clone).ok()
}
