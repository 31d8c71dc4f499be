//! Users moved in from egov-user through a running deployment (`admin import --url`): each user is stored
//! by the pod serving its home partition — the partition its userName routes to, or the one the directory
//! already gives it — through the journal like any write. Its id and uuid carry no partition, so with the
//! journal on their homes are published to the directory topic first, and the user is written only once
//! the brokers have them: a user that can be read is a user every pod routes to.

use std::collections::BTreeMap;
use std::sync::Arc;

use actors::Clock;
use actors::domain::UserRecord;
use actors::homes::HomeKey;
use actors::partition::Partition;
use actors::store::{Store, StoreError, UserWriteError};
use futures_util::future::join_all;

use crate::cluster::api::{ImportBatch, ImportOutcome};
use crate::cluster::{Cluster, Owner, PeerError};
use crate::journal::directory::DirectoryTopic;

/// Why a batch was not imported (nothing of it is lost: the import sends it again, and what was stored
/// comes back unchanged).
#[derive(Debug, thiserror::Error)]
pub enum ImportRefused {
    /// Some home has nobody serving it for the moment (a partition moving).
    #[error("partition {0} is moving between pods")]
    Moving(u16),
    /// The pod serving some home did not take its part.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The brokers did not acknowledge the homes.
    #[error("the directory topic: {0}")]
    Directory(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores imported users at their homes' pods.
pub struct Importer {
    store: Arc<Store>,
    cluster: Arc<Cluster>,
    /// Where imported users' homes are published (journal on).
    directory: Option<DirectoryTopic>,
    clock: Clock,
}

impl Importer {
    /// The importer of a pod; `directory` when the journal is on.
    pub fn new(
        store: Arc<Store>,
        cluster: Arc<Cluster>,
        directory: Option<DirectoryTopic>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            cluster,
            directory,
            clock,
        }
    }

    /// Imports `users`, each at the pod serving its home; what each did, in their order.
    pub async fn import(
        &self,
        users: Vec<UserRecord>,
    ) -> Result<Vec<ImportOutcome>, ImportRefused> {
        let mut here = Vec::new();
        let mut elsewhere: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, user) in users.iter().enumerate() {
            let home = self.store.users().import_home(user);
            match self.cluster.owner(home) {
                Owner::Here => here.push(i),
                Owner::Peer(o) => elsewhere.entry(o).or_default().push(i),
                Owner::Nobody => return Err(ImportRefused::Moving(home.0)),
            }
        }
        let part = |at: &[usize]| at.iter().map(|i| users[*i].clone()).collect::<Vec<_>>();
        let calls = elsewhere.iter().map(|(ordinal, at)| {
            let batch = ImportBatch { users: part(at) };
            async move {
                self.cluster
                    .peers()
                    .call::<_, Vec<ImportOutcome>>(
                        *ordinal,
                        self.cluster.me(),
                        "/cluster/import/users",
                        &batch,
                    )
                    .await
            }
        });
        let (mine, theirs) = tokio::join!(self.import_here(part(&here)), join_all(calls));
        let mut outcomes = vec![ImportOutcome::Unchanged; users.len()];
        for (i, outcome) in here.iter().zip(mine?) {
            outcomes[*i] = outcome;
        }
        for ((ordinal, at), answer) in elsewhere.iter().zip(theirs) {
            let answer = answer?;
            if answer.len() != at.len() {
                return Err(ImportRefused::Peer(PeerError::Body {
                    ordinal: *ordinal,
                    reason: format!("{} outcomes for {} users", answer.len(), at.len()),
                }));
            }
            for (i, outcome) in at.iter().zip(answer) {
                outcomes[*i] = outcome;
            }
        }
        Ok(outcomes)
    }

    /// Imports `users`, whose homes must all be served here (else `Moving`: the asking pod sends them
    /// again once the routes say where they went).
    pub async fn import_here(
        &self,
        users: Vec<UserRecord>,
    ) -> Result<Vec<ImportOutcome>, ImportRefused> {
        let homes: Vec<Partition> = users
            .iter()
            .map(|u| self.store.users().import_home(u))
            .collect();
        // each home stays served here until its users are written (a handover waits for them)
        let mut inside = Vec::new();
        for home in &homes {
            match self.cluster.enter(*home) {
                Some(guard) if self.cluster.owner(*home) == Owner::Here => inside.push(guard),
                _ => return Err(ImportRefused::Moving(home.0)),
            }
        }
        if let Some(directory) = &self.directory {
            let entries: Vec<(HomeKey, u16)> = users
                .iter()
                .zip(&homes)
                .filter_map(|(u, home)| {
                    let uuid = uuid::Uuid::parse_str(&u.uuid).ok()?;
                    Some([(HomeKey::Id(u.id), home.0), (HomeKey::Uuid(uuid), home.0)])
                })
                .flatten()
                .collect();
            directory
                .publish(&entries)
                .await
                .map_err(|e| ImportRefused::Directory(e.to_string()))?;
            for (key, home) in entries {
                self.store.learn_home(key, home)?;
            }
        }
        let now = self.clock.now_ms();
        let users_store = self.store.users();
        let written = join_all(users.iter().map(|u| users_store.import(u, now))).await;
        drop(inside);
        written
            .into_iter()
            .map(|w| match w {
                Ok(imported) => Ok(ImportOutcome::from(Ok(imported))),
                Err(UserWriteError::Refused(conflict)) => Ok(ImportOutcome::from(Err(conflict))),
                Err(UserWriteError::Duplicate) => Ok(ImportOutcome::UserNameTaken),
                Err(UserWriteError::NotFound) => Ok(ImportOutcome::IdTaken),
                Err(UserWriteError::Store(e)) => Err(e.into()),
            })
            .collect()
    }
}
