//! The sharded deployment on one machine: `digit-user serve` processes on loopback, as the pods of a
//! StatefulSet. Any pod answers any request; searches fan out; logouts reach every pod; a dead pod costs only
//! its partitions; `admin rebalance` moves partitions with nothing lost.

#[allow(dead_code)]
#[path = "../kafka/broker.rs"]
mod broker;
#[path = "../api/helpers/journal.rs"]
mod journal_env;
/// What the broker takes from the test helpers of the crates that have them.
mod helpers {
    pub use crate::node::free_port;
}

mod disk_loss;
mod failover;
mod flows;
mod guards;
mod load;
mod node;
mod rebalance;
mod rolling;
mod scaling;
mod standby;
