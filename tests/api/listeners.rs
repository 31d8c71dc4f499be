//! The endpoint table decides which listener answers what: every internal-only endpoint is absent from the
//! public listener (a 404 whose body is never read) and present on the internal one; every other endpoint
//! answers on both.

use digit_user::http::endpoints::{ENDPOINTS, Listeners};
use reqwest::{Method, StatusCode};

use crate::helpers::spawn_app;

#[actix_web::test]
async fn each_endpoint_answers_on_the_listeners_the_table_gives_it() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let call = |base: &str, method: &str, path: &str, body: Vec<u8>| {
        let request = client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}{path}"),
            )
            .header("content-type", "application/json")
            .body(body);
        async move {
            let resp = request.send().await.unwrap();
            (resp.status(), resp.bytes().await.unwrap())
        }
    };
    // above http.max_body_bytes: a 400 PAYLOAD_TOO_LARGE wherever a body is read
    let oversized = vec![b' '; 128 << 10];
    for e in ENDPOINTS {
        let (method, path) = (e.method.as_str(), e.path);
        let (public, _) = call(&app.public, method, path, b"{}".to_vec()).await;
        let (internal, _) = call(&app.internal, method, path, b"{}".to_vec()).await;
        assert_ne!(
            internal,
            StatusCode::NOT_FOUND,
            "{method} {path} on the internal listener"
        );
        match e.listeners {
            Listeners::Both => {
                assert_ne!(
                    public,
                    StatusCode::NOT_FOUND,
                    "{method} {path} on the public listener"
                );
            }
            Listeners::Internal => {
                assert_eq!(
                    public,
                    StatusCode::NOT_FOUND,
                    "{method} {path} on the public listener"
                );
                let (status, body) = call(&app.public, method, path, oversized.clone()).await;
                assert_eq!(
                    (status, body.len()),
                    (StatusCode::NOT_FOUND, 0),
                    "{method} {path}: hidden before its body is read"
                );
                // another method on a hidden path is hidden too, not a 405 that tells it exists
                let other = if method == "GET" { "POST" } else { "GET" };
                let (status, _) = call(&app.public, other, path, Vec::new()).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{other} {path}");
            }
        }
    }
}
