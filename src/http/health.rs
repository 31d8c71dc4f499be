//! `/health/live` (the process answers) and `/health/ready` (started, not shutting down, store writable).

use actix_web::{HttpResponse, web};

use super::state::AppState;

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
