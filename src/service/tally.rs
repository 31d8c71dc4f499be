//! The abuse counters of the whole deployment, each counted at one pod: the owner of its key's partition
//! ([`Counted::partition`]). OTP sends per client address, number prefix and state are admitted there
//! before the session sees the send; failed token requests per address and subnet are recorded there and a
//! token request is checked there before its credentials are. One address spread over N pods therefore
//! meets one cap, not N.
//!
//! A pod that cannot reach a key's owner (or a partition between owners) counts the key itself: the cap then
//! holds per pod for that moment, a limit loosened, never a citizen refused for a peer's trouble. A refusal an
//! owner gave is remembered here until it expires (bounded), so a flood from a refused address costs no calls.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actors::clock::Clock;
use actors::domain::tally::{Counted, Refused, Tallies, TallyLimits};
use futures_util::future::join_all;

use crate::cluster::api::{TallyAnswer, TallyAsk, TallyOp};
use crate::cluster::{Cluster, Owner};

/// Where a key is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Here,
    Peer(u16),
}

/// Counts admitted at their owners, to give back when no SMS went out.
#[derive(Debug)]
pub struct Admission {
    parts: Vec<(Place, Vec<Counted>, i64)>,
}

/// The counters of this pod and the way to the others'.
pub struct Tally {
    here: Mutex<Tallies>,
    refused: Mutex<HashMap<Counted, i64>>,
    max_refused: usize,
    prefix_digits: usize,
    cluster: Arc<Cluster>,
    clock: Clock,
}

impl Tally {
    /// Counters under `limits`; a send's prefix is its first `prefix_digits` digits; at most `max_refused`
    /// refusals of other pods remembered.
    pub fn new(
        limits: TallyLimits,
        prefix_digits: usize,
        max_refused: usize,
        cluster: Arc<Cluster>,
        clock: Clock,
    ) -> Self {
        Self {
            here: Mutex::new(Tallies::new(limits)),
            refused: Mutex::new(HashMap::new()),
            max_refused: max_refused.max(1),
            prefix_digits,
            cluster,
            clock,
        }
    }

    /// The keys an OTP send to `mobile` of `state` from `ip` is counted under.
    pub fn send_keys(&self, ip: Option<IpAddr>, state: &str, mobile: &str) -> Vec<Counted> {
        Counted::send(ip, state, mobile, self.prefix_digits)
    }

    /// Does what another pod (or this one) asks of the keys counted here.
    pub fn answer(&self, ask: &TallyAsk) -> TallyAnswer {
        let now = self.clock.now_ms();
        let mut here = self.here.lock().unwrap_or_else(|e| e.into_inner());
        let verdict = match ask.op {
            TallyOp::Check => here.check(&ask.keys, now),
            TallyOp::Admit => here.admit(&ask.keys, now),
            TallyOp::Record => here.record(&ask.keys, now),
            TallyOp::Release => {
                here.release(&ask.keys, ask.at);
                Ok(())
            }
        };
        TallyAnswer {
            at: now,
            refused: verdict.err(),
        }
    }

    /// Admits one OTP send under every key at their owners, or counts it nowhere and names the key that
    /// refused.
    pub async fn admit(&self, keys: Vec<Counted>) -> Result<Admission, Refused> {
        let answers = self.ask_owners(TallyOp::Admit, keys).await;
        let mut refused = None;
        let mut parts = Vec::new();
        for (place, keys, answer) in answers {
            match answer.refused {
                Some(r) => refused = refused.or(Some(r)),
                None => parts.push((place, keys, answer.at)),
            }
        }
        let admission = Admission { parts };
        match refused {
            None => Ok(admission),
            Some(r) => {
                self.release(admission).await;
                Err(r)
            }
        }
    }

    /// Gives back an admission for which no SMS went out (losing it only leaves the caps stricter).
    pub async fn release(&self, admission: Admission) {
        let asks = admission.parts.into_iter().map(|(place, keys, at)| {
            self.ask_at(
                place,
                TallyAsk {
                    op: TallyOp::Release,
                    keys,
                    at,
                },
            )
        });
        join_all(asks).await;
    }

    /// Whether a token request from `ip` may be served, or how long to wait (ms).
    pub async fn gate(&self, ip: IpAddr) -> Result<(), i64> {
        let keys = Counted::failure(ip);
        if let Some(wait) = self.remembered(&keys) {
            return Err(wait);
        }
        self.verdict(TallyOp::Check, keys).await
    }

    /// Counts a failed token request from `ip`.
    pub async fn fail(&self, ip: IpAddr) {
        // the verdict is remembered for the next request from there
        let _ = self.verdict(TallyOp::Record, Counted::failure(ip)).await;
    }

    async fn verdict(&self, op: TallyOp, keys: Vec<Counted>) -> Result<(), i64> {
        let now = self.clock.now_ms();
        let mut wait = None;
        for (_, _, answer) in self.ask_owners(op, keys).await {
            if let Some(r) = answer.refused {
                self.remember(&r, now);
                wait = wait.max(Some(r.retry_after_ms));
            }
        }
        wait.map_or(Ok(()), Err)
    }

    fn remembered(&self, keys: &[Counted]) -> Option<i64> {
        let now = self.clock.now_ms();
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| refused.get(k))
            .filter(|until| **until > now)
            .map(|until| until - now)
            .max()
    }

    fn remember(&self, r: &Refused, now: i64) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() >= self.max_refused {
            refused.retain(|_, until| *until > now);
            if refused.len() >= self.max_refused {
                // a flood of refused addresses: forgetting them costs calls, not safety
                refused.clear();
            }
        }
        refused.insert(r.key.clone(), now + r.retry_after_ms);
    }

    /// Asks every owner of `keys` to do `op` with its keys, together.
    async fn ask_owners(
        &self,
        op: TallyOp,
        keys: Vec<Counted>,
    ) -> Vec<(Place, Vec<Counted>, TallyAnswer)> {
        let mut by_place: BTreeMap<Place, Vec<Counted>> = BTreeMap::new();
        for key in keys {
            let place = match self.cluster.owner(key.partition(self.cluster.partitions())) {
                Owner::Peer(ordinal) if self.cluster.sharded() => Place::Peer(ordinal),
                // here, or between owners: counted here
                _ => Place::Here,
            };
            by_place.entry(place).or_default().push(key);
        }
        let asks = by_place
            .into_iter()
            .map(|(place, keys)| self.ask_at(place, TallyAsk { op, keys, at: 0 }));
        join_all(asks).await
    }

    async fn ask_at(&self, place: Place, ask: TallyAsk) -> (Place, Vec<Counted>, TallyAnswer) {
        if let Place::Peer(ordinal) = place {
            match self.cluster.tally_at(ordinal, &ask).await {
                Ok(answer) => return (place, ask.keys, answer),
                // a give-back that did not arrive leaves that cap stricter for a while
                Err(_) if ask.op == TallyOp::Release => {
                    return (
                        place,
                        ask.keys,
                        TallyAnswer {
                            at: 0,
                            refused: None,
                        },
                    );
                }
                Err(e) => {
                    tracing::debug!(pod = ordinal, error = %e, "abuse counter's owner unreachable: counted here");
                }
            }
        }
        let answer = self.answer(&ask);
        (Place::Here, ask.keys, answer)
    }
}
