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
//!
//! A partition may be handed over while a request about it runs here: the next owner's claim fences this
//! pod's write, which is undone and answered 503. Such a request is served again by the next owner — the
//! forwarding pod asks it (this pod marks its 503 [`crate::cluster::NOT_HERE`]), or, for a request a client
//! sent here, this pod forwards it there once. A 503 leaves nothing done, so asking again is safe.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use actors::metrics::CLUSTER_CALLS;
use actors::partition::{Partition, home_partition};

use super::endpoints::{self, Key, Listeners};
use super::error::domain::{moving, unreachable_owner};
use super::json::CappedBody;
use super::request_info::{OwnedHere, on_internal_listener};
use super::route::{RouteKey, route_key};
use super::state::AppState;
use crate::cluster::peers::{Outgoing, PeerError, Relayed};
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
    let mut owner = owner_soon(&cluster, partition, cluster.owner_wait()).await;
    let mut rerouted = false;
    loop {
        match owner {
            Owner::Here => {
                let Some(inside) = cluster.enter(partition) else {
                    return Ok(req.error_response(moving()));
                };
                req.extensions_mut().insert(OwnedHere);
                req.set_payload(body.clone().into());
                let served = next.call(req).await?.map_into_boxed_body();
                drop(inside);
                if rerouted || !handed_over_under(&served, &cluster, partition) {
                    return Ok(served);
                }
                // the partition went to its next owner while this request ran, and the 503 left nothing
                // done (a write the next owner's claim fenced): that owner serves it — asked by the pod
                // that forwarded it, else by this one, once
                if forwarded {
                    return Ok(served.into_response(not_here()));
                }
                let Owner::Peer(next_owner) =
                    owner_elsewhere(&cluster, partition, cluster.owner_wait()).await
                else {
                    return Ok(served);
                };
                let http = served.request().clone();
                return match relay(&state, next_owner, &http, body.clone()).await {
                    Ok(r) if !is_not_here(&r) => {
                        Ok(ServiceResponse::new(http, relayed(r)).map_into_boxed_body())
                    }
                    _ => Ok(served),
                };
            }
            Owner::Peer(_) | Owner::Nobody if forwarded => {
                return Ok(req.into_response(not_here()));
            }
            Owner::Nobody => return Ok(req.error_response(moving())),
            Owner::Peer(ordinal) => {
                let relayed_answer = relay(&state, ordinal, req.request(), body.clone()).await;
                match relayed_answer {
                    // the peer no longer serves it (a handover just ended): once, the next owner
                    Ok(r) if is_not_here(&r) && !rerouted => {
                        rerouted = true;
                        owner =
                            owner_other_than(&cluster, partition, ordinal, cluster.owner_wait())
                                .await;
                    }
                    Ok(r) => return Ok(req.into_response(relayed(r))),
                    // an owner that does not answer may have just handed the partition over (a rolling
                    // update): once, the request waits for the next one
                    Err(_) if !rerouted => {
                        rerouted = true;
                        owner =
                            owner_other_than(&cluster, partition, ordinal, cluster.owner_wait())
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

/// Who owns `partition` once `settled` says so of its owner, asked every 20 ms for `wait` at most; the
/// owner then, whatever it is.
async fn owner_once(
    cluster: &crate::cluster::Cluster,
    partition: Partition,
    wait: std::time::Duration,
    settled: impl Fn(Owner) -> bool,
) -> Owner {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let owner = cluster.owner(partition);
        if settled(owner) || tokio::time::Instant::now() >= deadline {
            return owner;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Who owns `partition`, waiting up to `wait` while nobody does.
async fn owner_soon(
    cluster: &crate::cluster::Cluster,
    partition: Partition,
    wait: std::time::Duration,
) -> Owner {
    owner_once(cluster, partition, wait, |o| o != Owner::Nobody).await
}

/// Who owns `partition` once it is no longer pod `gone` (or nobody), waiting up to `wait`; `gone` again
/// when nothing changed (the caller answers its 503).
async fn owner_other_than(
    cluster: &crate::cluster::Cluster,
    partition: Partition,
    gone: u16,
    wait: std::time::Duration,
) -> Owner {
    owner_once(cluster, partition, wait, |o| {
        !matches!(o, Owner::Peer(p) if p == gone) && o != Owner::Nobody
    })
    .await
}

/// Who owns `partition` once it is another pod, waiting up to `wait`; whatever it is then.
async fn owner_elsewhere(
    cluster: &crate::cluster::Cluster,
    partition: Partition,
    wait: std::time::Duration,
) -> Owner {
    owner_once(cluster, partition, wait, |o| matches!(o, Owner::Peer(_))).await
}

/// Whether `served` is a 503 of a request whose partition this pod no longer serves, or is handing over
/// (the group gave it to another pod, or another pod's claim fenced it): its next owner may serve it.
fn handed_over_under(
    served: &ServiceResponse<BoxBody>,
    cluster: &crate::cluster::Cluster,
    partition: Partition,
) -> bool {
    served.status() == StatusCode::SERVICE_UNAVAILABLE
        && (cluster.owner(partition) != Owner::Here
            || cluster.store().durable().given_away(partition.0))
}

/// Forwards the request `http` (its body `body`) to pod `ordinal`'s internal listener once; its answer.
async fn relay(
    state: &AppState,
    ordinal: u16,
    http: &HttpRequest,
    body: Bytes,
) -> Result<Relayed, PeerError> {
    let path = match http.query_string() {
        "" => http.path().to_owned(),
        q => format!("{}?{q}", http.path()),
    };
    let cluster = &state.cluster;
    let relayed = cluster
        .peers()
        .forward(
            ordinal,
            cluster.me(),
            Outgoing {
                method: http.method(),
                path_and_query: &path,
                headers: http.headers(),
                client_ip: super::request_info::client_ip(http, state),
                body,
            },
        )
        .await;
    let result = if relayed.is_ok() { "ok" } else { "unavailable" };
    metrics::counter!(CLUSTER_CALLS, "kind" => "forward", "result" => result).increment(1);
    relayed
}

/// Whether a peer's answer says it does not serve the request's partition (any more).
fn is_not_here(r: &Relayed) -> bool {
    r.headers.iter().any(|(name, _)| name == NOT_HERE)
}

/// A peer's answer as this pod gives it: as it came, without the mark between pods.
fn relayed(r: Relayed) -> HttpResponse {
    let mut out = HttpResponse::build(r.status);
    for (name, value) in r.headers {
        if name != NOT_HERE {
            out.append_header((name, value));
        }
    }
    out.body(r.body)
}

/// The retryable 503 a pod answers a forwarded request it does not serve, marked so that the forwarding pod
/// asks the next owner.
fn not_here() -> HttpResponse {
    let mut refused = moving().error_response();
    refused.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static(NOT_HERE),
        actix_web::http::header::HeaderValue::from_static("1"),
    );
    refused
}

/// The partition a key lives in; `None` when there is no single owner (or the key cannot be read).
fn partition_of(key: &RouteKey, state: &AppState) -> Option<Partition> {
    let partitions = state.cluster.partitions();
    match key {
        RouteKey::Name { state: s, name } => Some(home_partition(s, name, partitions)),
        RouteKey::Uuid(_) | RouteKey::Id(_) | RouteKey::AnyOf(_) => {
            super::route::home_of(key, state.cluster.homes())
        }
        RouteKey::AccessToken(token) => {
            let verified = state.login.sessions().verify(token).ok()?;
            uuid::Uuid::parse_str(&verified.snapshot.uuid)
                .ok()
                .map(|u| state.cluster.homes().of_uuid(&u))
        }
        RouteKey::RefreshToken(token) => crate::service::sessions::refresh_token_partition(token),
        RouteKey::FanOut | RouteKey::Local => None,
    }
}
