//! The users of the partitions this pod serves, and a search of every pod's. A pod's store may also hold
//! copies of other partitions: one it follows as a warm standby, one it served before, one moving away. Only
//! the owner's copy answers, so every search that stays on this pod or is one leg of a fan-out goes through
//! here.
//!
//! A fan-out answers only when its legs cover every partition: each leg says which partitions it held for
//! the whole of its search, and a partition handed over while the legs ran (held by neither its old owner,
//! which let it go before its leg, nor its new one, still replaying at its leg) is asked again, and after
//! `cluster.owner_wait_ms` answered with a retryable 503 — never a page with a partition's users missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::domain::UserRecord;
use actors::domain::search::{UserQuery, merge_in_id_order};

use crate::cluster::calls::Leg;
use crate::cluster::{Cluster, PeerError};
use crate::service::bulk::{Bulk, BulkError};
use crate::service::registry::{Registry, RegistryError};

/// How often a leg searches again when the partitions served here changed under it, before it answers
/// that it held none (the asking pod then asks again).
const STEADY_TRIES: usize = 3;

/// How long a fan-out waits between two tries when its legs left a partition uncovered.
const UNCOVERED_PAUSE: Duration = Duration::from_millis(50);

/// Why a search of every pod has no answer.
#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    /// This pod's store failed.
    #[error(transparent)]
    Store(#[from] RegistryError),
    /// This pod's leg was not run (its bulk threads busy).
    #[error(transparent)]
    Bulk(#[from] BulkError),
    /// A pod did not answer its leg.
    #[error("a search leg failed: {0}")]
    Leg(#[from] PeerError),
    /// Some partition was held by no leg until the wait ran out (a partition moving).
    #[error("partitions {0:?} are moving between pods")]
    Moving(Vec<u16>),
}

/// The users matching `query` among the partitions served here for the whole search, in the store's
/// order, `query`'s offset and limit applied to them alone; and those partitions.
pub fn owned_matches(
    registry: &Registry,
    cluster: &Cluster,
    query: &UserQuery,
) -> Result<Leg, RegistryError> {
    if !cluster.sharded() {
        return Ok(Leg {
            users: registry.search(query)?,
            partitions: (0..cluster.partitions()).collect(),
        });
    }
    for _ in 0..STEADY_TRIES {
        let served = cluster.served_here();
        let users = matches_among(registry, cluster, query, &served)?;
        if cluster.served_here() == served {
            return Ok(Leg {
                users,
                partitions: served,
            });
        }
    }
    Ok(Leg::default())
}

/// The users matching `query` in the partitions `served`, with the window widened past rows of the other
/// partitions held here.
fn matches_among(
    registry: &Registry,
    cluster: &Cluster,
    query: &UserQuery,
    served: &[u16],
) -> Result<Vec<UserRecord>, RegistryError> {
    let wanted = query.limit.map(|l| l.saturating_add(query.offset));
    let mut window = wanted;
    // rows of partitions held but not served are cut after the store's window: widen the window until
    // it holds enough served rows or everything
    let owned = loop {
        let mut rows = registry.search(&UserQuery {
            offset: 0,
            limit: window,
            ..query.clone()
        })?;
        let fetched = rows.len();
        rows.retain(|u| served.contains(&cluster.homes().of_id(u.id).0));
        match (window, wanted) {
            (Some(w), Some(n)) if fetched == w && rows.len() < n => {
                window = Some(w.saturating_mul(2).max(w + 1));
            }
            _ => break rows,
        }
    };
    Ok(owned
        .into_iter()
        .skip(query.offset)
        .take(query.limit.unwrap_or(usize::MAX))
        .collect())
}

/// The users matching `query` on every pod serving a partition, merged in id order (one row per id: a
/// user moving between pods is on two for a moment), `query`'s offset and limit applied to the whole.
/// A point lookup (by id, number or name: a few rows) runs this pod's leg in place.
pub async fn search_everywhere(
    registry: &Registry,
    cluster: &Arc<Cluster>,
    query: &UserQuery,
) -> Result<Vec<UserRecord>, FanOutError> {
    fan_out(None, registry, cluster, query).await
}

/// [`search_everywhere`] for a page of any size: this pod's leg runs on a `bulk` thread.
pub async fn search_page_everywhere(
    bulk: &Bulk,
    registry: &Registry,
    cluster: &Arc<Cluster>,
    query: &UserQuery,
) -> Result<Vec<UserRecord>, FanOutError> {
    fan_out(Some(bulk), registry, cluster, query).await
}

async fn fan_out(
    bulk: Option<&Bulk>,
    registry: &Registry,
    cluster: &Arc<Cluster>,
    query: &UserQuery,
) -> Result<Vec<UserRecord>, FanOutError> {
    let window = query.for_fan_out();
    let deadline = Instant::now() + cluster.owner_wait();
    loop {
        let here = async {
            match bulk {
                None => Ok(owned_matches(registry, cluster, &window)?),
                Some(bulk) => {
                    let (registry, cluster, window) =
                        (registry.clone(), cluster.clone(), window.clone());
                    Ok(bulk
                        .run(move || owned_matches(&registry, &cluster, &window))
                        .await??)
                }
            }
        };
        // this pod's leg and the others' at once
        let (here, others) = tokio::join!(here, cluster.search_others(&window));
        let mut legs: Vec<Leg> = vec![here.map_err(|e: FanOutError| e)?];
        legs.extend(others?);
        let uncovered = uncovered(cluster.partitions(), &legs);
        if uncovered.is_empty() {
            let pages = legs.into_iter().map(|l| l.users).collect();
            return Ok(merge_in_id_order(
                pages,
                |u| u.id,
                query.offset,
                query.limit,
            ));
        }
        if Instant::now() + UNCOVERED_PAUSE > deadline {
            return Err(FanOutError::Moving(uncovered));
        }
        tokio::time::sleep(UNCOVERED_PAUSE).await;
    }
}

/// The partitions of `0..partitions` no leg held.
fn uncovered(partitions: u16, legs: &[Leg]) -> Vec<u16> {
    (0..partitions)
        .filter(|p| !legs.iter().any(|l| l.partitions.contains(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(partitions: &[u16]) -> Leg {
        Leg {
            users: Vec::new(),
            partitions: partitions.to_vec(),
        }
    }

    #[test]
    fn a_partition_no_leg_held_is_uncovered() {
        // partition 2 left pod A before its leg and was not yet served by pod B at B's leg
        let legs = [leg(&[0, 1]), leg(&[3])];
        assert_eq!(uncovered(4, &legs), vec![2]);
    }

    #[test]
    fn legs_holding_every_partition_cover_them_even_twice() {
        // a partition held by two legs (handed over between them) is covered; its rows merge by id
        let legs = [leg(&[0, 1, 2]), leg(&[2, 3]), leg(&[])];
        assert!(uncovered(4, &legs).is_empty());
    }
}
