//! The revocation set of [`Sessions`]: in memory so `/user/_details` answers from the token and this set
//! alone, loaded from the store at start (and after a restore from the journal), written through, and told
//! to the other pods.

use std::collections::HashMap;
use std::sync::RwLock;

use actors::metrics as m;
use actors::store::{Revoked, StoreError};

use super::{RevocationList, SessionError, Sessions};

/// The revocation reason of the access token a refresh replaced.
pub(super) const ROTATION: &str = "rotation";

/// The in-memory revocation set: family ids and access-token ids, each with the moment it may be forgotten.
#[derive(Default)]
pub(super) struct Revocations {
    pub(super) families: RwLock<HashMap<[u8; 16], i64>>,
    pub(super) access: RwLock<HashMap<[u8; 16], i64>>,
}

impl Revocations {
    /// Remembers `id` until `until`; the hourly [`Sessions::prune`] forgets what ended.
    pub(super) fn insert(map: &RwLock<HashMap<[u8; 16], i64>>, id: &str, until: i64) {
        let Some(key) = uuid_bytes(id) else { return };
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
}

fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(id).ok().map(|u| *u.as_bytes())
}

impl Sessions {
    /// Adds the revocations in force in the store to the in-memory set (at start, and once the journal
    /// restored what a wiped data dir lost).
    pub fn load_revocations(&self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut loaded = 0;
        for r in self.store.logins().revocations(now)? {
            let (map, id, until) = match r {
                Revoked::Family(id, until) => (&self.revoked.families, id, until),
                Revoked::Access(id, until) => (&self.revoked.access, id, until),
            };
            map.write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id, until);
            loaded += 1;
        }
        tracing::info!(revocations = loaded, "sessions: revocations loaded");
        Ok(())
    }

    /// Applies revocations another pod made (effective at once, then persisted); never sent on.
    pub async fn apply_remote(&self, list: &RevocationList) -> Result<(), SessionError> {
        for (id, until) in &list.families {
            Revocations::insert(&self.revoked.families, id, *until);
        }
        for (id, until) in &list.access {
            Revocations::insert(&self.revoked.access, id, *until);
        }
        self.store
            .logins()
            .keep_revoked(&list.families, &list.access)
            .await?;
        Ok(())
    }

    /// Every revocation in force here (what a pod that was down pulls at its start).
    pub fn in_force(&self) -> RevocationList {
        let now = self.clock.now_ms();
        let list = |map: &RwLock<HashMap<[u8; 16], i64>>| -> Vec<(String, i64)> {
            map.read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .filter(|(_, until)| **until > now)
                .map(|(id, until)| (uuid::Uuid::from_bytes(*id).to_string(), *until))
                .collect()
        };
        RevocationList {
            families: list(&self.revoked.families),
            access: list(&self.revoked.access),
        }
    }

    pub(super) fn broadcast(&self, families: &[(String, i64)], access: &[(String, i64)]) {
        if let Some(cluster) = &self.cluster {
            cluster.broadcast_revocations(RevocationList {
                families: families.to_vec(),
                access: access.to_vec(),
            });
        }
    }

    /// Adds revocations of user `user`'s tokens to the in-memory set first (effective at once), then
    /// persists them once the journal holds them, then tells the other pods.
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
        Self::insert_all(&self.revoked, families, access);
        self.store.logins().revoke(user, families, access).await?;
        self.remember_revoked(families, access, reason);
        Ok(())
    }

    /// Revocations the store holds already (a rotation writes the one of the access token it replaces):
    /// into the in-memory set, counted, told to the other pods.
    pub(super) fn remember_revoked(
        &self,
        families: &[(String, i64)],
        access: &[(String, i64)],
        reason: &'static str,
    ) {
        Self::insert_all(&self.revoked, families, access);
        metrics::counter!(m::REVOCATIONS, "reason" => reason)
            .increment((families.len() + access.len()) as u64);
        self.broadcast(families, access);
    }

    fn insert_all(revoked: &Revocations, families: &[(String, i64)], access: &[(String, i64)]) {
        for (id, until) in families {
            Revocations::insert(&revoked.families, id, *until);
        }
        for (id, until) in access {
            Revocations::insert(&revoked.access, id, *until);
        }
    }
}
