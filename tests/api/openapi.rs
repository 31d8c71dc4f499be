//! The OpenAPI description: every endpoint of the table with its method and nothing else, served on the
//! internal listener only, and committed as `docs/openapi.json` exactly as generated.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

fn generated() -> Value {
    serde_json::from_str(&digit_user::http::openapi::json()).unwrap()
}

#[test]
fn the_committed_description_is_the_generated_one() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
            .unwrap_or_default();
    assert!(
        committed == digit_user::http::openapi::json(),
        "docs/openapi.json is not the description the code generates: \
         `cargo run --quiet -- openapi > docs/openapi.json`"
    );
}

#[test]
fn every_endpoint_is_described_with_its_method_and_nothing_else() {
    let spec = generated();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut described = 0;
    for (_, item) in spec["paths"].as_object().unwrap() {
        described += item.as_object().unwrap().len();
    }
    let endpoints = digit_user::http::endpoints::ENDPOINTS;
    for e in endpoints {
        let method = e.method.as_str().to_lowercase();
        let operation = &spec["paths"][e.path][&method];
        assert!(
            operation.is_object(),
            "{method} {} is not described",
            e.path
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {}: no responses",
            e.path
        );
        if e.listeners == digit_user::http::endpoints::Listeners::Internal {
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            assert!(
                ["admin", "cluster", "otp"].contains(&tag),
                "{} is internal but tagged {tag}",
                e.path
            );
        }
    }
    assert_eq!(described, endpoints.len(), "an operation the table lacks");
    // every schema named is defined
    let text = spec.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "{name} is named, not defined"
        );
    }
}

#[actix_web::test]
async fn the_description_is_served_on_the_internal_listener_only() {
    let app = spawn_app().await;
    let internal = reqwest::get(format!("{}/openapi.json", app.internal))
        .await
        .unwrap();
    assert_eq!(internal.status(), StatusCode::OK);
    let served: Value = internal.json().await.unwrap();
    assert_eq!(served, generated());
    let public = reqwest::get(format!("{}/openapi.json", app.public))
        .await
        .unwrap()
        .status();
    assert_eq!(public, StatusCode::NOT_FOUND);
}
