//! The sharded deployment on one machine: `digit-user serve` processes on loopback, as the pods of a
//! StatefulSet. Any pod answers any request; searches fan out; logouts reach every pod; a dead pod costs only
//! its partitions; `admin rebalance` moves partitions with nothing lost.

mod flows;
mod guards;
mod node;
mod rebalance;
