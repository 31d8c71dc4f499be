//! `digit-user admin rebalance --to-replicas N`: moves partitions between the running pods so that N pods
//! share them evenly (README, "Operating at scale").
//!
//! The move goes a batch of partitions at a time, each batch its own map version: freeze the batch at its
//! owner (new requests for it get a retryable 503, those inside finish, its journal settled) → the new owner
//! reads the batch from the journal to its end → every pod adopts the map (new owner first) → the old owner
//! deletes its copy and forwards from then on. No data travels between the pods: the journal holds it.
//! Only one batch is ever frozen. Users, lockouts and refresh families are counted on every pod before and
//! after; the command fails if a single one is missing.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::partition::PartitionMap;
use actors::store::MoveCounts;

use crate::cli::RebalanceArgs;
use crate::cluster::api::{Partitions, PodStatus};
use crate::cluster::{PeerError, Peers};
use crate::config::Settings;

/// The ordinal the command uses in the forwarded mark (it is no pod).
const OPERATOR: u16 = u16::MAX;

/// Runs the rebalance; progress goes to standard output, the error is one line. (Its steps still describe
/// their failures as text: the command is replaced by Kafka's group membership, see the issues.)
pub fn run(args: RebalanceArgs, settings: Settings) -> anyhow::Result<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(rebalance(args, settings))
        .map_err(anyhow::Error::msg)
}

struct Pods {
    peers: Peers,
}

impl Pods {
    async fn status(&self, ordinal: u16) -> Result<PodStatus, PeerError> {
        self.peers
            .call(ordinal, OPERATOR, "/cluster/status", &())
            .await
    }

    async fn post<R: serde::de::DeserializeOwned>(
        &self,
        ordinal: u16,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<R, String> {
        self.peers
            .call(ordinal, OPERATOR, path, body)
            .await
            .map_err(|e| format!("{path} on pod {ordinal}: {e}"))
    }
}

async fn rebalance(args: RebalanceArgs, settings: Settings) -> Result<String, String> {
    let cluster = &settings.cluster;
    let target = args.to_replicas;
    // a new owner reads a whole batch from the journal in one call: give it time
    let pods = Pods {
        peers: Peers::new(
            cluster.clone(),
            Duration::from_millis(cluster.forward_timeout_ms).max(Duration::from_secs(120)),
            None,
        ),
    };
    let first = pods
        .status(0)
        .await
        .map_err(|e| format!("cannot read the partition map: {e}"))?;
    let span = first.map.replicas().max(target);
    let mut before = MoveCounts::default();
    let mut current = first.map.clone();
    for ordinal in 0..span {
        let s = pods.status(ordinal).await.map_err(|e| {
            format!("{e}; every pod of the old and the new map must be up (scale the StatefulSet up first)")
        })?;
        if s.ordinal != ordinal {
            return Err(format!(
                "the address of pod {ordinal} answers as pod {}; check cluster.peers / peer_template",
                s.ordinal
            ));
        }
        if s.map.version() > current.version() {
            current = s.map.clone();
        }
        before = add(before, s.stored);
    }
    let goal = PartitionMap::even(cluster.partitions, target, 0).map_err(|e| e.to_string())?;
    let moves = current.moves_to(&goal);
    println!(
        "map v{} ({} pods) -> {} pods: {} of {} partitions move",
        current.version(),
        current.replicas(),
        target,
        moves.len(),
        cluster.partitions
    );
    let mut pairs: BTreeMap<(u16, u16), Vec<u16>> = BTreeMap::new();
    for m in &moves {
        pairs.entry((m.from, m.to)).or_default().push(m.partition.0);
    }
    for ((from, to), parts) in &pairs {
        println!("  pod {from} -> pod {to}: {} partitions", parts.len());
    }
    if args.plan {
        let final_map = PartitionMap::explicit(
            cluster.partitions,
            target,
            current.version() + 1,
            (0..cluster.partitions)
                .map(|p| goal.owner(actors::partition::Partition(p)))
                .collect(),
        )
        .map_err(|e| e.to_string())?;
        return serde_json::to_string(&final_map).map_err(|e| e.to_string());
    }
    println!(
        "stored before: {} users, {} lockouts, {} refresh families",
        before.users, before.lockouts, before.families
    );
    let mut owners: Vec<u16> = (0..cluster.partitions)
        .map(|p| current.owner(actors::partition::Partition(p)))
        .collect();
    let mut version = current.version();
    let (mut done, total) = (0, moves.len());
    for ((from, to), parts) in pairs {
        for batch in parts.chunks(args.batch.max(1)) {
            let batch = Partitions {
                partitions: batch.to_vec(),
            };
            for p in &batch.partitions {
                owners[usize::from(*p)] = to;
            }
            version += 1;
            let map = PartitionMap::explicit(cluster.partitions, span, version, owners.clone())
                .map_err(|e| e.to_string())?;
            let moved = move_batch(&pods, from, to, &batch, &map, span).await?;
            done += batch.partitions.len();
            println!(
                "moved {done}/{total} partitions (pod {from} -> pod {to}: {} users, {} lockouts, {} families), map v{version}",
                moved.users, moved.lockouts, moved.families
            );
        }
    }
    version += 1;
    let last = PartitionMap::explicit(cluster.partitions, target, version, owners)
        .map_err(|e| e.to_string())?;
    for ordinal in 0..span {
        pods.post::<serde_json::Value>(ordinal, "/cluster/map", &last)
            .await?;
    }
    let mut after = MoveCounts::default();
    for ordinal in 0..span {
        let s = pods.status(ordinal).await.map_err(|e| e.to_string())?;
        after = add(after, s.stored);
    }
    println!(
        "stored after: {} users, {} lockouts, {} refresh families",
        after.users, after.lockouts, after.families
    );
    if after != before {
        return Err(format!(
            "counts differ after the move (before {before:?}, after {after:?}); do not scale down, investigate"
        ));
    }
    Ok(format!(
        "rebalanced to {target} pods at map v{version}; {}",
        if target < span {
            format!(
                "pods {target}..{} now hold nothing: scale the StatefulSet down to {target}",
                span - 1
            )
        } else {
            "nothing else to do".to_owned()
        }
    ))
}

/// One batch: freeze at `from`, read from the journal at `to`, switch every pod to `map` (new owner first),
/// drop at `from`.
async fn move_batch(
    pods: &Pods,
    from: u16,
    to: u16,
    batch: &Partitions,
    map: &PartitionMap,
    span: u16,
) -> Result<MoveCounts, String> {
    let thaw = || async {
        let _: Result<serde_json::Value, _> =
            pods.post(from, "/cluster/partitions/_thaw", batch).await;
    };
    let frozen: serde_json::Value = pods
        .post(from, "/cluster/partitions/_freeze", batch)
        .await?;
    if frozen["drained"] != serde_json::Value::Bool(true) {
        thaw().await;
        return Err(format!(
            "requests for partitions {:?} on pod {from} did not finish; nothing moved, retry",
            batch.partitions
        ));
    }
    if let Some(why) = frozen["journal"].as_str() {
        thaw().await;
        return Err(format!(
            "pod {from} could not settle the journal of partitions {:?} ({why}); nothing moved, retry once the brokers answer",
            batch.partitions
        ));
    }
    let counts = match pods
        .post::<MoveCounts>(to, "/cluster/partitions/_replay", batch)
        .await
    {
        Ok(counts) => counts,
        Err(e) => {
            thaw().await;
            return Err(format!("{e}; the batch stays with pod {from}, retry"));
        }
    };
    let order = std::iter::once(to)
        .chain((0..span).filter(|o| *o != to && *o != from))
        .chain(std::iter::once(from));
    for ordinal in order {
        pods.post::<serde_json::Value>(ordinal, "/cluster/map", map)
            .await
            .map_err(|e| format!("{e}; re-run the rebalance once the pod is back"))?;
    }
    let dropped: MoveCounts = pods.post(from, "/cluster/partitions/_drop", batch).await?;
    if dropped != counts {
        println!(
            "  warning: pod {from} dropped {dropped:?} but pod {to} read {counts:?} from the journal (the final count decides)"
        );
    }
    Ok(counts)
}

fn add(a: MoveCounts, b: MoveCounts) -> MoveCounts {
    MoveCounts {
        users: a.users + b.users,
        lockouts: a.lockouts + b.lockouts,
        families: a.families + b.families,
    }
}
