//! What one pod asks of the others: a search's legs, a send and an OTP check at the pod
//! owning the code, an abuse counter at the pod counting its key. (Revocations reach every pod through the journal's revocations topic.)

use actors::domain::UserRecord;
use actors::domain::search::UserQuery;
use actors::metrics::CLUSTER_CALLS;
use futures_util::future::join_all;

use super::api::{AuditRecord, OtpCheck, OtpSend, OtpSent, OtpVerdict, TallyAnswer, TallyAsk};
use super::{Cluster, PeerError, SERVED};

/// One pod's answer to a fanned-out search: its matching users of the partitions it held for the whole
/// search, and those partitions.
#[derive(Debug, Default)]
pub struct Leg {
    /// The users, in id order.
    pub users: Vec<UserRecord>,
    /// The partitions they were searched among.
    pub partitions: Vec<u16>,
}

/// The [`SERVED`] header's value: partition numbers, comma-separated (an unreadable one is left out — the
/// search then finds that partition uncovered and is asked again).
pub fn served_header(partitions: &[u16]) -> String {
    partitions
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_served(value: &str) -> Vec<u16> {
    value
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

fn count(kind: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "unavailable" };
    metrics::counter!(CLUSTER_CALLS, "kind" => kind, "result" => result).increment(1);
}

impl Cluster {
    /// One leg per other pod of a fanned-out search; any pod not answering fails the search (a partial
    /// answer would page wrongly).
    pub async fn search_others(&self, query: &UserQuery) -> Result<Vec<Leg>, PeerError> {
        let legs = self.others().into_iter().map(|o| async move {
            let (users, served) = self
                .peers
                .call_reading::<_, Vec<UserRecord>>(
                    o,
                    self.me,
                    "/cluster/users/_search",
                    query,
                    Some(SERVED),
                )
                .await?;
            // a pod of an earlier version does not say: what it announced is taken as what it holds
            let partitions = served
                .map(|s| parse_served(&s))
                .unwrap_or_else(|| self.announced_by(o));
            Ok(Leg { users, partitions })
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

    /// Asks pod `ordinal`, which counts `ask`'s keys, to do `ask`.
    pub async fn tally_at(&self, ordinal: u16, ask: &TallyAsk) -> Result<TallyAnswer, PeerError> {
        let answer = self
            .peers
            .call::<_, TallyAnswer>(ordinal, self.me, "/cluster/tally", ask)
            .await;
        count("tally", answer.is_ok());
        answer
    }

    /// Has pod `ordinal`, which serves `record`'s user, write its audit event.
    pub async fn audit_at(&self, ordinal: u16, record: &AuditRecord) -> Result<(), PeerError> {
        let written = self
            .peers
            .call::<_, serde::de::IgnoredAny>(ordinal, self.me, "/cluster/audit", record)
            .await;
        count("audit", written.is_ok());
        written.map(drop)
    }
}
