//! Middleware: an internal-only endpoint (see [`super::endpoints`]) asked on the public listener is a 404
//! before anything else. Then any pod accepts any request. A request about a key another pod owns is
//! forwarded once to that pod's internal listener and its answer relayed as it came (status, headers,
//! body); a request about a key owned here is served here while its partition is not moving. With the
//! journal off (one pod serves everything), or an endpoint routed by no key, the body is never read here.
//!
//! Loop guard: a request carrying [`crate::cluster::FORWARDED`] on the internal listener is never forwarded
//! again; if this pod does not own its key (it has just handed the partition over, or the two pods'
//! views of the group differ for a moment) it answers a retryable 503 marked
//! [`crate::cluster::NOT_HERE`] rather than guess, and the forwarding pod asks the next owner once before it
//! relays that 503 (without the mark).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpResponse, ResponseError, web};
use actors::metrics::CLUSTER_CALLS;
use actors::partition::{Partition, home_partition, partition_of_id, partition_of_uuid};

use super::endpoints::{self, Key, Listeners};
use super::error::domain::{moving, unreachable_owner};
use super::json::CappedBody;
use super::request_info::{OwnedHere, on_internal_listener};
use super::route::{RouteKey, route_key};
use super::state::AppState;
use crate::cluster::peers::{Outgoing, Relayed};
use crate::cluster::{NOT_HERE, Owner};

/// The routing middleware.
pub async fn route(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let cluster = state.cluster.clone();
    let endpoint = endpoints::at(req.path());
    // an internal-only path does not exist on the public listener: no handler runs, no body is read
    if endpoint.is_some_and(|e| e.listeners == Listeners::Internal)
        && !on_internal_listener(req.request(), &state)
    {
        return Ok(req.into_response(HttpResponse::NotFound().finish()));
    }
    let rule = endpoint.map_or(Key::None, |e| e.key);
    if !cluster.sharded() || rule == Key::None {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let forwarded = super::request_info::from_peer(req.request(), &state);
    let body = {
        let (http, payload) = req.parts_mut();
        match CappedBody::from_request(http, payload).await {
            Ok(CappedBody(body)) => body,
            Err(e) => {
                let e = e.in_shape_of(req.path(), state.login.sessions().now_ms());
                return Ok(req.error_response(e));
            }
        }
    };
    let key = route_key(rule, req.query_string(), &body);
    let Some(partition) = partition_of(&key, &state) else {
        // no owner to ask (fan-out searches, unreadable keys): served here
        req.set_payload(body.into());
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let mut owner = owner_soon(&cluster, partition, owner_wait(&state)).await;
    let mut rerouted = false;
    loop {
        match owner {
            Owner::Here => {
                let Some(_inside) = cluster.enter(partition) else {
                    return Ok(req.error_response(moving()));
                };
                req.extensions_mut().insert(OwnedHere);
                req.set_payload(body.into());
                return Ok(next.call(req).await?.map_into_boxed_body());
            }
            Owner::Peer(_) | Owner::Nobody if forwarded => {
                let mut refused = req.error_response(moving());
                refused.headers_mut().insert(
                    actix_web::http::header::HeaderName::from_static(NOT_HERE),
                    actix_web::http::header::HeaderValue::from_static("1"),
                );
                return Ok(refused.map_into_boxed_body());
            }
            Owner::Nobody => return Ok(req.error_response(moving())),
            Owner::Peer(ordinal) => {
                let path = match req.query_string() {
                    "" => req.path().to_owned(),
                    q => format!("{}?{q}", req.path()),
                };
                let relayed = cluster
                    .peers()
                    .forward(
                        ordinal,
                        cluster.me(),
                        Outgoing {
                            method: req.method(),
                            path_and_query: &path,
                            headers: req.headers(),
                            client_ip: super::request_info::client_ip(req.request(), &state),
                            body: body.clone(),
                        },
                    )
                    .await;
                let result = if relayed.is_ok() { "ok" } else { "unavailable" };
                metrics::counter!(CLUSTER_CALLS, "kind" => "forward", "result" => result)
                    .increment(1);
                let not_here = |r: &Relayed| r.headers.iter().any(|(name, _)| name == NOT_HERE);
                match relayed {
                    // the peer no longer serves it (a handover just ended): once, the next owner
                    Ok(r) if not_here(&r) && !rerouted => {
                        rerouted = true;
                        owner = owner_other_than(&cluster, partition, ordinal, owner_wait(&state))
                            .await;
                    }
                    Ok(r) => {
                        let mut out = HttpResponse::build(r.status);
                        for (name, value) in r.headers {
                            if name != NOT_HERE {
                                out.append_header((name, value));
                            }
                        }
                        return Ok(req.into_response(out.body(r.body)));
                    }
                    // an owner that does not answer may have just handed the partition over (a rolling
                    // update): once, the request waits for the next one
                    Err(_) if !rerouted => {
                        rerouted = true;
                        owner = owner_other_than(&cluster, partition, ordinal, owner_wait(&state))
                            .await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, partition = partition.0, "owner unreachable");
                        return Ok(req.into_response(unreachable_owner().error_response()));
                    }
                }
            }
        }
    }
}

/// How long a request for a partition nobody serves waits for its next owner (a takeover
/// finishing, its announcement on the way) before it is answered a retryable 503: `cluster.owner_wait_ms`.
fn owner_wait(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_millis(state.settings.cluster.owner_wait_ms)
}

/// Who owns `partition`, waiting up to `wait` while nobody does.
async fn owner_soon(
    cluster: &crate::cluster::Cluster,
    partition: Partition,
    wait: std::time::Duration,
) -> Owner {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let owner = cluster.owner(partition);
        if owner != Owner::Nobody || tokio::time::Instant::now() >= deadline {
            return owner;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Who owns `partition` once it is no longer pod `gone` (or nobody), waiting up to `wait`; `gone` again
/// when nothing changed (the caller answers its 503).
async fn owner_other_than(
    cluster: &crate::cluster::Cluster,
    partition: Partition,
    gone: u16,
    wait: std::time::Duration,
) -> Owner {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let owner = cluster.owner(partition);
        let moved = !matches!(owner, Owner::Peer(o) if o == gone) && owner != Owner::Nobody;
        if moved || tokio::time::Instant::now() >= deadline {
            return owner;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The partition a key lives in; `None` when there is no single owner (or the key cannot be read).
fn partition_of(key: &RouteKey, state: &AppState) -> Option<Partition> {
    let partitions = state.cluster.partitions();
    match key {
        RouteKey::Name { state: s, name } => Some(home_partition(s, name, partitions)),
        RouteKey::Uuid(u) => Some(partition_of_uuid(u)),
        RouteKey::Id(id) => Some(partition_of_id(*id)),
        RouteKey::AccessToken(token) => {
            let verified = state.login.sessions().verify(token).ok()?;
            uuid::Uuid::parse_str(&verified.snapshot.uuid)
                .ok()
                .map(|u| partition_of_uuid(&u))
        }
        RouteKey::RefreshToken(token) => crate::service::sessions::refresh_token_partition(token),
        RouteKey::FanOut | RouteKey::Local => None,
    }
}
