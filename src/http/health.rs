//! `/health/live` (the process answers) and `/health/ready` (started, not shutting down, store writable).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// Readiness switch flipped by start-up and shutdown.
#[derive(Debug, Default, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the service ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether start-up finished and shutdown has not begun.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `GET /health/live`
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "UP"}))
}

/// `GET /health/ready`
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store_ok = state.registry.store().is_healthy();
    if state.readiness.get() && store_ok {
        HttpResponse::Ok().json(serde_json::json!({"status": "UP"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "DOWN",
            "accepting": state.readiness.get(),
            "storeWritable": store_ok,
        }))
    }
}
