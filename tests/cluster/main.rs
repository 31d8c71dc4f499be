//! The sharded deployment on one machine: `digit-user serve` processes on loopback, as the pods of a
//! StatefulSet, sharing the partitions through Kafka's consumer group. Any pod answers any request; searches
//! fan out; logouts reach every pod; a dead pod's partitions are taken over, a stopped one's handed over;
//! pods joining and leaving keep everything; a paused pod acknowledges nothing it lost.

#[allow(dead_code)]
#[path = "../kafka/broker.rs"]
mod broker;
#[path = "../api/helpers/journal.rs"]
mod journal_env;
#[path = "../common/net.rs"]
mod net;
/// What the broker and the pods take from the test helpers of the crates that have them.
mod helpers {
    pub use crate::net::free_port;
}

mod ask;
mod audit;
mod caps;
mod disk_loss;
mod failover;
mod flows;
mod guards;
mod load;
mod node;
mod rolling;
mod rotation;
mod scaling;
mod standby;
