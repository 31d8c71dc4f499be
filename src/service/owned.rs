//! The users of the partitions this pod serves. A pod's store may also hold copies of other partitions:
//! one it follows as a warm standby, one it served before, one moving away. Only the owner's copy
//! answers, so every search that stays on this pod or is one leg of a fan-out goes through here.

use actors::domain::UserRecord;
use actors::domain::search::UserQuery;
use actors::partition::partition_of_id;

use crate::cluster::{Cluster, Owner};
use crate::service::registry::{Registry, RegistryError};

/// The users matching `query` among the partitions served here, in the store's order, `query`'s offset
/// and limit applied to them alone.
pub fn owned_matches(
    registry: &Registry,
    cluster: &Cluster,
    query: &UserQuery,
) -> Result<Vec<UserRecord>, RegistryError> {
    if !cluster.sharded() {
        return registry.search(query);
    }
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
        rows.retain(|u| cluster.owner(partition_of_id(u.id)) == Owner::Here);
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
