//! What one pod asks of the others: revocations told to every pod (and pulled at start by a pod that was
//! down), the newest partition map, a search's legs, and an OTP check at the pod owning the code.

use std::sync::Arc;
use std::time::Duration;

use actors::domain::UserRecord;
use actors::domain::search::UserQuery;
use actors::metrics::CLUSTER_CALLS;
use actors::partition::PartitionMap;
use futures_util::future::join_all;

use super::api::{OtpCheck, OtpSend, OtpSent, OtpVerdict, RevocationList};
use super::{Cluster, PeerError};

/// Pauses before each retry of a revocation broadcast to a pod that did not take it.
const BROADCAST_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
];

fn count(kind: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "unavailable" };
    metrics::counter!(CLUSTER_CALLS, "kind" => kind, "result" => result).increment(1);
}

impl Cluster {
    /// Tells every other pod of `list` in the background; a pod that does not take it is retried a few
    /// times, and pulls everything at its next start anyway.
    pub fn broadcast_revocations(self: &Arc<Self>, list: RevocationList) {
        if !self.sharded() || (list.families.is_empty() && list.access.is_empty()) {
            return;
        }
        for ordinal in self.others() {
            let (cluster, list) = (self.clone(), list.clone());
            tokio::spawn(async move {
                let mut pauses = BROADCAST_RETRIES.iter();
                loop {
                    let sent: Result<serde_json::Value, PeerError> = cluster
                        .peers
                        .call(ordinal, cluster.me, "/cluster/revocations", &list)
                        .await;
                    count("broadcast", sent.is_ok());
                    match (sent, pauses.next()) {
                        (Ok(_), _) => break,
                        (Err(e), Some(pause)) => {
                            tracing::debug!(error = %e, "revocation broadcast retried");
                            tokio::time::sleep(*pause).await;
                        }
                        (Err(e), None) => {
                            tracing::warn!(error = %e, "revocations not delivered; that pod pulls them at its next start");
                            break;
                        }
                    }
                }
            });
        }
    }

    /// The revocations every reachable pod holds (start-up catch-up).
    pub async fn pull_revocations(&self) -> Vec<RevocationList> {
        let legs = self.others().into_iter().map(|o| async move {
            self.peers
                .call::<_, RevocationList>(o, self.me, "/cluster/revocations/_all", &())
                .await
        });
        join_all(legs).await.into_iter().flatten().collect()
    }

    /// Adopts the newest map any reachable pod follows (a pod added by scaling, or down during a rebalance).
    pub async fn pull_map(&self) {
        let replicas = self.map().replicas().max(self.me + 1);
        let legs = (0..replicas).filter(|o| *o != self.me).map(|o| async move {
            self.peers
                .call::<_, PartitionMap>(o, self.me, "/cluster/map/_get", &())
                .await
        });
        let newest = join_all(legs)
            .await
            .into_iter()
            .flatten()
            .max_by_key(PartitionMap::version);
        if let Some(map) = newest
            && let Err(e) = self.adopt(map).await
        {
            tracing::warn!(error = %e, "a peer's partition map was not adopted");
        }
    }

    /// One leg per other pod of a fanned-out search; any pod not answering fails the search (a partial
    /// answer would page wrongly).
    pub async fn search_others(
        &self,
        query: &UserQuery,
    ) -> Result<Vec<Vec<UserRecord>>, PeerError> {
        let legs = self.others().into_iter().map(|o| async move {
            self.peers
                .call::<_, Vec<UserRecord>>(o, self.me, "/cluster/users/_search", query)
                .await
        });
        let answers = join_all(legs).await;
        for a in &answers {
            count("fanout", a.is_ok());
        }
        answers.into_iter().collect()
    }

    /// Sends (or holds) a code at pod `ordinal`, which owns the session of the number it goes to.
    pub async fn send_otp_at(&self, ordinal: u16, send: &OtpSend) -> Result<OtpSent, PeerError> {
        let sent = self
            .peers
            .call::<_, OtpSent>(ordinal, self.me, "/cluster/otp/_send", send)
            .await;
        count("otp", sent.is_ok());
        sent
    }

    /// Checks (and on success spends) a code at pod `ordinal`, which owns its session.
    pub async fn check_otp_at(&self, ordinal: u16, check: &OtpCheck) -> Result<bool, PeerError> {
        let verdict = self
            .peers
            .call::<_, OtpVerdict>(ordinal, self.me, "/cluster/otp/_validate", check)
            .await;
        count("otp", verdict.is_ok());
        Ok(verdict?.valid)
    }
}
