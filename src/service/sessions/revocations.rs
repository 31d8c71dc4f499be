//! The revocation set of [`Sessions`]: in memory so `/user/_details` answers from the token and this set
//! alone, loaded from the store at start (and after a restore from the journal), written through, and —
//! with the journal on — published to a feed every pod reads ([`RevocationFeed`]: the revocations topic).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;

use actors::metrics as m;
use actors::store::{JournalError, Revoked, StoreError};

use super::{SessionError, Sessions};

/// The revocation reason of the access token a refresh replaced.
pub(super) const ROTATION: &str = "rotation";

/// Where revocations go so that every pod learns of them — the revocations topic
/// (`crate::journal::revocations`), which every pod reads into its set ([`Sessions::learn`]).
pub trait RevocationFeed: Send + Sync {
    /// Publishes `revoked`; resolves once the feed holds every one of them.
    fn publish(&self, revoked: Vec<Revoked>) -> FeedFuture<'_>;

    /// Removes revocations that ended from the feed (a reader skips them anyway).
    fn forget(&self, ended: Vec<Revoked>) -> FeedFuture<'_>;
}

/// What [`RevocationFeed::publish`] returns.
pub type FeedFuture<'a> = Pin<Box<dyn Future<Output = Result<(), FeedError>> + Send + 'a>>;

/// Why the feed did not take revocations (retry later).
#[derive(Debug, thiserror::Error)]
#[error("the revocations feed did not confirm: {0}")]
pub struct FeedError(pub String);

/// The in-memory revocation set: family ids and access-token ids, each with the moment it may be forgotten.
#[derive(Default)]
pub(super) struct Revocations {
    pub(super) families: RwLock<HashMap<[u8; 16], i64>>,
    pub(super) access: RwLock<HashMap<[u8; 16], i64>>,
}

impl Revocations {
    /// Remembers `key` until `until`; the hourly [`Sessions::prune`] forgets what ended.
    fn insert_bytes(map: &RwLock<HashMap<[u8; 16], i64>>, key: [u8; 16], until: i64) {
        map.write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, until);
    }

    pub(super) fn contains(map: &RwLock<HashMap<[u8; 16], i64>>, id: &str) -> bool {
        uuid_bytes(id).is_some_and(|key| {
            map.read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains_key(&key)
        })
    }

    /// Takes out what ended by `now`.
    pub(super) fn remove_ended(&self, now: i64) -> Vec<Revoked> {
        let mut ended = Vec::new();
        let mut sweep = |map: &RwLock<HashMap<[u8; 16], i64>>,
                         kind: fn([u8; 16], i64) -> Revoked| {
            map.write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|id, until| {
                    let live = *until > now;
                    if !live {
                        ended.push(kind(*id, *until));
                    }
                    live
                });
        };
        sweep(&self.families, Revoked::Family);
        sweep(&self.access, Revoked::Access);
        ended
    }

    /// Adds `revoked` to its map.
    fn add(&self, revoked: Revoked) {
        match revoked {
            Revoked::Family(id, until) => Self::insert_bytes(&self.families, id, until),
            Revoked::Access(id, until) => Self::insert_bytes(&self.access, id, until),
        }
    }
}

fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(id).ok().map(|u| *u.as_bytes())
}

/// `families` and `access` as revocations (ids that are no uuid are skipped: no token carries one).
fn as_revoked(families: &[(String, i64)], access: &[(String, i64)]) -> Vec<Revoked> {
    let ids = |list: &[(String, i64)]| -> Vec<([u8; 16], i64)> {
        list.iter()
            .filter_map(|(id, until)| Some((uuid_bytes(id)?, *until)))
            .collect()
    };
    let mut out: Vec<Revoked> = ids(families)
        .into_iter()
        .map(|(id, until)| Revoked::Family(id, until))
        .collect();
    out.extend(
        ids(access)
            .into_iter()
            .map(|(id, until)| Revoked::Access(id, until)),
    );
    out
}

impl Sessions {
    /// Adds the revocations in force in the store to the in-memory set (at start, and once the journal
    /// restored what a wiped data dir lost).
    pub fn load_revocations(&self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut loaded = 0;
        for r in self.store.logins().revocations(now)? {
            self.revoked.add(r);
            loaded += 1;
        }
        tracing::info!(revocations = loaded, "sessions: revocations loaded");
        Ok(())
    }

    /// Adds a revocation read from the feed (made by any pod, this one included) to the in-memory set,
    /// unless it has ended.
    pub fn learn(&self, revoked: Revoked) {
        let until = match revoked {
            Revoked::Family(_, until) | Revoked::Access(_, until) => until,
        };
        if until > self.clock.now_ms() {
            self.revoked.add(revoked);
        }
    }

    /// Adds revocations of user `user`'s tokens to the in-memory set first (effective at once), publishes
    /// them to the feed, then persists them (through the journal): answered once every pod can learn of
    /// them. Published before persisted, so a store that holds a revocation knows every pod can learn of
    /// it — an error between the two leaves the store without it, and the caller's retry makes both.
    pub(super) async fn revoke(
        &self,
        user: &str,
        families: &[(String, i64)],
        access: &[(String, i64)],
        reason: &'static str,
    ) -> Result<(), SessionError> {
        if families.is_empty() && access.is_empty() {
            return Ok(());
        }
        let revoked = as_revoked(families, access);
        for r in &revoked {
            self.revoked.add(*r);
        }
        if let Some(feed) = &self.feed {
            feed.publish(revoked)
                .await
                .map_err(|e| StoreError::Journal(JournalError::Unavailable(e.to_string())))?;
        }
        self.store.logins().revoke(user, families, access).await?;
        metrics::counter!(m::REVOCATIONS, "reason" => reason)
            .increment((families.len() + access.len()) as u64);
        self.audit_revoked(user, reason, families.len() + access.len());
        Ok(())
    }

    /// Records in `user`'s audit trail that `tokens` of their tokens were revoked for `reason`.
    pub(super) fn audit_revoked(&self, user: &str, reason: &str, tokens: usize) {
        crate::service::audit::Audit::new(self.store.clone(), self.clock.clone()).record(
            user,
            None,
            actors::domain::audit::AuditKind::TokenRevoked {
                reason: reason.to_owned(),
                tokens,
            },
        );
    }

    /// Revocations the store holds already (a rotation writes the one of the access token it replaces, a
    /// reuse the family's): into the in-memory set, counted, published to the feed — waited for with
    /// `wait`, else in the background (a rotation works through a broker outage; other pods then accept
    /// the replaced access token until it expires).
    pub(super) async fn remember_revoked(
        &self,
        families: &[(String, i64)],
        access: &[(String, i64)],
        reason: &'static str,
        wait: bool,
    ) {
        let revoked = as_revoked(families, access);
        for r in &revoked {
            self.revoked.add(*r);
        }
        metrics::counter!(m::REVOCATIONS, "reason" => reason).increment(revoked.len() as u64);
        let Some(feed) = self.feed.clone() else {
            return;
        };
        let publish = async move {
            if let Err(e) = feed.publish(revoked).await {
                tracing::warn!(error = %e, reason, "a revocation was not published: other pods learn of it only by its expiry");
            }
        };
        match wait {
            true => publish.await,
            false => {
                tokio::spawn(publish);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_revocations_are_taken_out_and_live_ones_stay() {
        let set = Revocations::default();
        let ended = [Revoked::Family([1; 16], 100), Revoked::Access([2; 16], 150)];
        let live = [Revoked::Family([3; 16], 201), Revoked::Access([4; 16], 300)];
        for r in ended.iter().chain(&live) {
            set.add(*r);
        }
        // families first, then access tokens (one of each ended)
        assert_eq!(set.remove_ended(200), ended.to_vec());
        assert!(set.remove_ended(200).is_empty(), "taken once");
        let id = |n: u8| uuid::Uuid::from_bytes([n; 16]).to_string();
        assert!(Revocations::contains(&set.families, &id(3)));
        assert!(Revocations::contains(&set.access, &id(4)));
        assert!(!Revocations::contains(&set.families, &id(1)));
    }

    #[test]
    fn ids_that_are_no_uuid_are_not_revocations() {
        let family = uuid::Uuid::from_bytes([5; 16]).to_string();
        let revoked = as_revoked(&[(family, 9), ("not-a-uuid".into(), 9)], &[]);
        assert_eq!(revoked, vec![Revoked::Family([5; 16], 9)]);
    }
}
