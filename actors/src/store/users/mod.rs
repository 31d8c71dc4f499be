//! The user registry on sled.
//!
//! Trees:
//! - `users`: id (big-endian) → the whole [`UserRecord`], sealed with AAD `users/<id>`.
//! - `user_index`: one byte of index kind, then the index key:
//!   `U` blind(tenant, type, userName) → id (uniqueness); `u` uuid → id;
//!   `n`/`m`/`a`/`e`/`N` blind(userName / mobile / alternate mobile / e-mail / name) ‖ id → ();
//!   `r` role tenant ‖ 0 ‖ role code ‖ 0 ‖ id → ().
//! - `user_audit`: id ‖ time ‖ sequence → the previous version, actor and time, sealed.
//!
//! Every change to a user and its index entries and audit record is one sled transaction over the three
//! trees, so the indexes never disagree with the records, and a uniqueness conflict between two concurrent
//! creates lets exactly one win. Writes return once they last ([`Durable`]).

use serde::{Deserialize, Serialize};

mod import;
mod notice;
mod search;
mod transfer;
mod write;

pub use import::{ImportConflict, Imported};

use super::durable::Durable;
use super::ids::Ids;
use super::writes::{TreeId, Writes};
use super::{StoreError, aad};
use crate::domain::{TenantId, UserRecord, UserType};
use crate::partition::{Partition, home_partition, mint_id, mint_uuid};
use crate::seal::{BLIND_LEN, BlindIndexer, IndexedField, Keyring};

const USERS: &str = TreeId::Users.name();
const AUDIT: &str = TreeId::UserAudit.name();

const K_UNIQUE: u8 = b'U';
const K_UUID: u8 = b'u';
const K_USERNAME: u8 = b'n';
const K_MOBILE: u8 = b'm';
const K_ALT_MOBILE: u8 = b'a';
const K_EMAIL: u8 = b'e';
const K_NAME: u8 = b'N';
const K_ROLE: u8 = b'r';

/// One audit record: the version of the user before a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The record as it was before the change.
    pub previous: UserRecord,
    /// uuid of the caller who changed it (`RequestInfo.userInfo.uuid`), if known.
    pub actor_uuid: Option<String>,
    /// When, epoch ms.
    pub at: i64,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserWriteError<E> {
    /// (userName, type, tenant) is taken.
    #[error("a user with this userName, type and tenant exists")]
    Duplicate,
    /// No user has that uuid.
    #[error("no user with that uuid")]
    NotFound,
    /// The caller's update function refused the change.
    #[error("update refused")]
    Refused(E),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users, their indexes and their audit trail.
pub struct UserStore {
    writes: Writes,
    users: sled::Tree,
    index: sled::Tree,
    audit: sled::Tree,
    keyring: std::sync::Arc<Keyring>,
    blind: BlindIndexer,
    durable: Durable,
    partitions: u16,
    ids: std::sync::Arc<Ids>,
    /// Imported users' homes: the partition an id carries is not theirs.
    homes: std::sync::Arc<crate::homes::Homes>,
    /// Where an update's notices wait for delivery (written in the update's own change).
    outbox: std::sync::Arc<super::outbox::OutboxStore>,
}

impl UserStore {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        writes: &Writes,
        ids: std::sync::Arc<Ids>,
        keyring: std::sync::Arc<Keyring>,
        blind: BlindIndexer,
        durable: Durable,
        partitions: u16,
        homes: std::sync::Arc<crate::homes::Homes>,
        outbox: std::sync::Arc<super::outbox::OutboxStore>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            ids,
            homes,
            outbox,
            writes: writes.clone(),
            users: writes.tree(TreeId::Users).clone(),
            index: writes.tree(TreeId::UserIndex).clone(),
            audit: writes.tree(TreeId::UserAudit).clone(),
            keyring,
            blind,
            durable,
            partitions,
        })
    }

    /// Mints the `(id, uuid)` of a new user whose home partition is hash(state tenant, userName).
    pub fn mint_ids(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> Result<(i64, String), StoreError> {
        let partition: Partition =
            home_partition(tenant.state().as_str(), user_name, self.partitions);
        let sequence = self.ids.next()?;
        Ok((
            mint_id(sequence, partition),
            mint_uuid(partition).to_string(),
        ))
    }

    /// Whether (tenant, type, userName) is taken.
    pub fn exists(
        &self,
        tenant: &TenantId,
        user_type: UserType,
        user_name: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .index
            .contains_key(self.unique_key(tenant, user_type, user_name))?)
    }

    /// The user with numeric `id`.
    pub fn get(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(id.to_be_bytes())?
            .map(|raw| self.open_record(id, &raw))
            .transpose()
    }

    /// The user with `uuid`.
    pub fn get_by_uuid(&self, uuid: &str) -> Result<Option<UserRecord>, StoreError> {
        match self.id_of_uuid(uuid)? {
            Some(id) => self.get(id),
            None => Ok(None),
        }
    }

    /// The user (tenant, type, userName) names exactly (the login lookup).
    pub fn get_unique(
        &self,
        tenant: &TenantId,
        user_type: UserType,
        user_name: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let Some(raw) = self
            .index
            .get(self.unique_key(tenant, user_type, user_name))?
        else {
            return Ok(None);
        };
        let id = i64::from_be_bytes(
            raw.as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("unique index value".into()))?,
        );
        self.get(id)
    }

    /// Every user whose userName is exactly `user_name`, in any tenant and of any type.
    pub fn with_user_name(&self, user_name: &str) -> Result<Vec<UserRecord>, StoreError> {
        let prefix = blind_prefix(
            K_USERNAME,
            &self.blind.digest(IndexedField::UserName, user_name),
        );
        let mut out = Vec::new();
        for kv in self.index.scan_prefix(&prefix) {
            let (key, _) = kv?;
            let id = i64::from_be_bytes(
                key[prefix.len()..]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("userName index key".into()))?,
            );
            if let Some(r) = self.get(id)?
                && r.user_name == user_name
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The audit trail of user `id`, oldest first.
    pub fn audit_trail(&self, id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit
            .scan_prefix(id.to_be_bytes())
            .map(|kv| {
                let (key, raw) = kv?;
                let plain = self.keyring.open(&raw, &aad(AUDIT, &key))?;
                Ok(serde_json::from_slice(&plain)?)
            })
            .collect()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn id_of_uuid(&self, uuid: &str) -> Result<Option<i64>, StoreError> {
        let Ok(parsed) = uuid::Uuid::parse_str(uuid) else {
            return Ok(None);
        };
        let key = [&[K_UUID][..], parsed.as_bytes()].concat();
        Ok(self
            .index
            .get(key)?
            .and_then(|v| v.as_ref().try_into().ok())
            .map(i64::from_be_bytes))
    }

    fn unique_key(&self, tenant: &TenantId, user_type: UserType, user_name: &str) -> Vec<u8> {
        let digest = self.blind.digest_parts(
            IndexedField::UniqueUser,
            &[tenant.as_str(), user_type.as_str(), user_name],
        );
        [&[K_UNIQUE][..], &digest].concat()
    }

    /// Every index entry of `record` except the uniqueness key.
    fn index_entries(&self, r: &UserRecord) -> Vec<(Vec<u8>, Vec<u8>)> {
        let id = r.id.to_be_bytes();
        let mut out = Vec::new();
        if let Ok(uuid) = uuid::Uuid::parse_str(&r.uuid) {
            out.push(([&[K_UUID][..], uuid.as_bytes()].concat(), id.to_vec()));
        }
        let mut blind = |kind: u8, field: IndexedField, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                out.push((
                    [
                        blind_prefix(kind, &self.blind.digest(field, v)),
                        id.to_vec(),
                    ]
                    .concat(),
                    Vec::new(),
                ));
            }
        };
        blind(K_USERNAME, IndexedField::UserName, Some(&r.user_name));
        blind(
            K_MOBILE,
            IndexedField::MobileNumber,
            r.mobile_number.as_deref(),
        );
        blind(
            K_ALT_MOBILE,
            IndexedField::AltMobileNumber,
            r.alt_mobile_number.as_deref(),
        );
        blind(K_EMAIL, IndexedField::EmailId, r.email_id.as_deref());
        blind(K_NAME, IndexedField::Name, r.name.as_deref());
        for role in &r.roles {
            out.push((
                [
                    role_prefix(role.tenant_id.as_str(), &role.code),
                    id.to_vec(),
                ]
                .concat(),
                Vec::new(),
            ));
        }
        out
    }

    fn seal_record(&self, r: &UserRecord) -> Result<Vec<u8>, StoreError> {
        self.seal_json(r, USERS, &r.id.to_be_bytes())
    }

    fn seal_json<T: Serialize>(
        &self,
        value: &T,
        tree: &str,
        key: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(value)?);
        Ok(self.keyring.seal(&plain, &aad(tree, key))?)
    }

    fn open_record(&self, id: i64, raw: &[u8]) -> Result<UserRecord, StoreError> {
        let plain =
            zeroize::Zeroizing::new(self.keyring.open(raw, &aad(USERS, &id.to_be_bytes()))?);
        Ok(serde_json::from_slice(&plain)?)
    }
}

/// The id a `users` key holds.
fn id_of_key(key: &[u8]) -> Result<i64, StoreError> {
    Ok(i64::from_be_bytes(
        key.try_into()
            .map_err(|_| StoreError::Corrupt("user key".into()))?,
    ))
}

fn blind_prefix(kind: u8, digest: &[u8; BLIND_LEN]) -> Vec<u8> {
    [&[kind][..], digest].concat()
}

/// The index keys of every role held in `tenant`.
fn role_tenant_prefix(tenant: &str) -> Vec<u8> {
    [&[K_ROLE][..], tenant.as_bytes(), b"\0"].concat()
}

fn role_prefix(tenant: &str, code: &str) -> Vec<u8> {
    [
        &[K_ROLE][..],
        tenant.as_bytes(),
        b"\0",
        code.as_bytes(),
        b"\0",
    ]
    .concat()
}

#[cfg(test)]
pub(crate) mod tests;
