//! Users moved in from egov-user through a running deployment (`admin import --url`): each user is stored
//! by the pod serving its home partition — the partition its userName routes to, or the one the directory
//! already gives it — through the journal like any write. Its id and uuid carry no partition, so with the
//! journal on their homes are published to the directory topic first, and the user is written only once
//! the brokers have them: a user that can be read is a user every pod routes to.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actors::Clock;
use actors::domain::UserRecord;
use actors::domain::search::UserQuery;
use actors::homes::HomeKey;
use actors::partition::Partition;
use actors::store::{Store, StoreError, UserWriteError};
use futures_util::future::join_all;

use crate::cluster::api::{ImportBatch, ImportOutcome};
use crate::cluster::{Cluster, Owner, PeerError};
use crate::journal::directory::DirectoryTopic;
use crate::service::owned::{FanOutError, search_everywhere};
use crate::service::registry::Registry;

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
    /// The search for users already holding the batch's ids or uuids had no answer.
    #[error(transparent)]
    Search(#[from] FanOutError),
}

/// Stores imported users at their homes' pods.
pub struct Importer {
    store: Arc<Store>,
    registry: Registry,
    cluster: Arc<Cluster>,
    /// Where imported users' homes are published (journal on).
    directory: Option<DirectoryTopic>,
    clock: Clock,
}

impl Importer {
    /// The importer of a pod; `directory` when the journal is on.
    pub fn new(
        store: Arc<Store>,
        registry: Registry,
        cluster: Arc<Cluster>,
        directory: Option<DirectoryTopic>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            registry,
            cluster,
            directory,
            clock,
        }
    }

    /// Imports `users`, each at the pod serving its home; what each did, in their order. A user whose id
    /// or uuid another user has anywhere in the deployment is refused before anything of it is published or
    /// written (a home pod sees only its own users: ids minted here live in the partition their bits say).
    pub async fn import(
        &self,
        users: Vec<UserRecord>,
    ) -> Result<Vec<ImportOutcome>, ImportRefused> {
        let clashes = self.clashes(&users).await?;
        // a user no pod took (its home moving, a pod or the brokers not answering) is told to come again;
        // the others' outcomes stand, so a retry counts each user once
        let mut outcomes = vec![ImportOutcome::Again; users.len()];
        let mut here = Vec::new();
        let mut elsewhere: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, user) in users.iter().enumerate() {
            if let Some(clash) = clashes[i] {
                outcomes[i] = clash;
                continue;
            }
            let home = self.store.users().import_home(user);
            match self.cluster.owner(home) {
                Owner::Here => here.push(i),
                Owner::Peer(o) => elsewhere.entry(o).or_default().push(i),
                Owner::Nobody => {}
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
        match mine {
            Ok(mine) => {
                for (i, outcome) in here.iter().zip(mine) {
                    outcomes[*i] = outcome;
                }
            }
            Err(ImportRefused::Store(e)) if !e.is_retryable() => return Err(e.into()),
            Err(e) => tracing::debug!(error = %e, "import: part here to send again"),
        }
        for ((ordinal, at), answer) in elsewhere.iter().zip(theirs) {
            match answer {
                Ok(answer) if answer.len() == at.len() => {
                    for (i, outcome) in at.iter().zip(answer) {
                        outcomes[*i] = outcome;
                    }
                }
                Ok(answer) => {
                    return Err(ImportRefused::Peer(PeerError::Body {
                        ordinal: *ordinal,
                        reason: format!("{} outcomes for {} users", answer.len(), at.len()),
                    }));
                }
                Err(e) => {
                    tracing::debug!(error = %e, ordinal, "import: a pod's part to send again")
                }
            }
        }
        Ok(outcomes)
    }

    /// For each of `users`: refused as `IdTaken` or `UuidTaken` when another user (another uuid under its
    /// id, or another id under its uuid) is stored anywhere in the deployment.
    async fn clashes(
        &self,
        users: &[UserRecord],
    ) -> Result<Vec<Option<ImportOutcome>>, ImportRefused> {
        let by_ids = UserQuery {
            ids: users.iter().map(|u| u.id).collect(),
            ..UserQuery::default()
        };
        let by_uuids = UserQuery {
            uuids: users.iter().map(|u| u.uuid.clone()).collect(),
            ..UserQuery::default()
        };
        let (ids, uuids) = tokio::join!(
            search_everywhere(&self.registry, &self.cluster, &by_ids),
            search_everywhere(&self.registry, &self.cluster, &by_uuids)
        );
        let uuid_of: HashMap<i64, String> = ids?.into_iter().map(|u| (u.id, u.uuid)).collect();
        let id_of: HashMap<String, i64> = uuids?.into_iter().map(|u| (u.uuid, u.id)).collect();
        Ok(users
            .iter()
            .map(|u| {
                if uuid_of.get(&u.id).is_some_and(|uuid| *uuid != u.uuid) {
                    Some(ImportOutcome::IdTaken)
                } else if id_of.get(&u.uuid).is_some_and(|id| *id != u.id) {
                    Some(ImportOutcome::UuidTaken)
                } else {
                    None
                }
            })
            .collect())
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
