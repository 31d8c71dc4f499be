//! `digit-user admin cluster-status`: who serves each partition, which
//! pods follow it as warm standbys and how far behind their copies are, and what every pod last announced.
//!
//! It asks one pod (`--url`, else this configuration's internal listener) for its status, then every pod
//! that pod knows of at the address it announced: the owners and the placement are one pod's view (every
//! pod computes the same from the same announcements), the lag is each standby's own.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::ClusterStatusArgs;
use crate::cluster::FORWARDED;
use crate::cluster::api::{GroupStatus, PodStatus};
use crate::config::Settings;

/// The ordinal the command puts in the forwarded mark (it is no pod).
const OPERATOR: &str = "65535";

/// Prints the status table.
pub fn status(
    args: &ClusterStatusArgs,
    settings: &Settings,
    now_ms: i64,
) -> anyhow::Result<String> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| super::internal_url(settings));
    actix_web::rt::System::new().block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let first = ask(&client, &url).await?;
        let Some(group) = first.group else {
            bail!(
                "{url} runs without the journal: it serves every partition alone, there is no group to show"
            );
        };
        let mut lags: BTreeMap<u16, BTreeMap<u16, Option<i64>>> = BTreeMap::new();
        for (ordinal, member) in &group.members {
            let following = if *ordinal == first.ordinal {
                Some(group.following.clone())
            } else {
                let address = format!("http://{}", member.address);
                ask(&client, &address).await.ok().and_then(|s| s.group).map(|g| g.following)
            };
            for (partition, standbys) in &group.standbys {
                if standbys.contains(ordinal) {
                    let lag = following.as_ref().and_then(|f| f.get(partition).copied());
                    lags.entry(*partition).or_default().insert(*ordinal, lag);
                }
            }
        }
        Ok(render(&group, &lags, now_ms))
    })
}

/// The internal listeners of every pod the pod at `url` knows of (its group's members at the addresses they
/// announced), or `url` alone when it runs without the journal.
pub(crate) async fn pod_urls(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<String>> {
    let first = ask(client, url).await?;
    Ok(match first.group {
        Some(group) if !group.members.is_empty() => group
            .members
            .values()
            .map(|m| format!("http://{}", m.address))
            .collect(),
        _ => vec![url.trim_end_matches('/').to_owned()],
    })
}

async fn ask(client: &reqwest::Client, url: &str) -> anyhow::Result<PodStatus> {
    let endpoint = format!("{}/cluster/status", url.trim_end_matches('/'));
    let response = client
        .post(&endpoint)
        .header(FORWARDED, OPERATOR)
        .json(&serde_json::json!({}))
        .send()
        .await
        .with_context(|| format!("asking {endpoint}"))?;
    if !response.status().is_success() {
        bail!("{endpoint} answered {}", response.status());
    }
    response
        .json()
        .await
        .with_context(|| format!("reading the answer of {endpoint}"))
}

/// The table: a line per partition (owner, generation, standbys with their lag; `?` a standby that did not
/// answer, `-` one not following yet), then a line per pod.
fn render(
    group: &GroupStatus,
    lags: &BTreeMap<u16, BTreeMap<u16, Option<i64>>>,
    now_ms: i64,
) -> String {
    let mut out = String::from("partition  owner  generation  standbys (records behind)\n");
    let partitions = group.routes.keys().chain(group.standbys.keys());
    let mut seen = std::collections::BTreeSet::new();
    for p in partitions.filter(|p| seen.insert(**p)) {
        let (owner, generation) = group
            .routes
            .get(p)
            .map_or(("-".to_owned(), "-".to_owned()), |r| {
                (r.ordinal.to_string(), r.generation.to_string())
            });
        let standbys: Vec<String> = lags
            .get(p)
            .map(|s| {
                s.iter()
                    .map(|(o, lag)| match lag {
                        Some(l) => format!("{o} ({l})"),
                        None => format!("{o} (-)"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{p:<9}  {owner:<5}  {generation:<10}  {}",
            if standbys.is_empty() {
                "none".to_owned()
            } else {
                standbys.join(", ")
            }
        );
    }
    for (ordinal, member) in &group.members {
        let _ = writeln!(
            out,
            "pod {ordinal} at {}: serves {} partitions, announced {:.1} s ago",
            member.address,
            member.serves.len(),
            (now_ms - member.at_ms).max(0) as f64 / 1000.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::group::{Announcement, Route};

    #[test]
    fn the_table_names_each_partition_s_owner_and_its_standbys_with_their_lag() {
        let route = |ordinal, generation| Route {
            ordinal,
            generation,
            at_ms: 1_000,
        };
        let member = |ordinal: u16, serves: &[(u16, u64)]| Announcement {
            ordinal,
            address: format!("pod-{ordinal}:8081"),
            serves: serves.iter().copied().collect(),
            at_ms: 1_000,
        };
        let group = GroupStatus {
            serving: BTreeMap::new(),
            assigned: 0,
            routes: [(0, route(0, 7)), (1, route(1, 9))].into_iter().collect(),
            members: [(0, member(0, &[(0, 7)])), (1, member(1, &[(1, 9)]))]
                .into_iter()
                .collect(),
            standbys: [(0, vec![1]), (1, vec![0]), (2, vec![0])]
                .into_iter()
                .collect(),
            following: BTreeMap::new(),
        };
        let lags = [
            (0, [(1, Some(0))].into_iter().collect()),
            (1, [(0, Some(3))].into_iter().collect()),
            (2, [(0, None)].into_iter().collect()),
        ]
        .into_iter()
        .collect();
        let table = render(&group, &lags, 3_500);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "7", "1", "(0)"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["1", "1", "9", "0", "(3)"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["2", "-", "-", "0", "(-)"]
        );
        assert_eq!(
            lines[4],
            "pod 0 at pod-0:8081: serves 1 partitions, announced 2.5 s ago"
        );
    }
}
