//! User search over the store: candidate ids from the indexes (the intersection of every indexed criterion),
//! then the records in id order, filtered by what the indexes cannot answer, then offset and limit.

use std::collections::BTreeSet;

use super::{
    K_ALT_MOBILE, K_EMAIL, K_MOBILE, K_NAME, K_USERNAME, UserStore, blind_prefix, id_of_key,
    role_prefix, role_tenant_prefix,
};
use crate::domain::UserRecord;
use crate::domain::search::UserQuery;
use crate::seal::IndexedField;
use crate::store::StoreError;

impl UserStore {
    /// Users matching `query`, in id order, after `offset` and `limit`.
    pub fn search(&self, query: &UserQuery) -> Result<Vec<UserRecord>, StoreError> {
        let candidates = self.candidates(query)?;
        let mut out = Vec::new();
        let mut skipped = 0;
        let wanted = query.limit.unwrap_or(usize::MAX);
        let mut visit = |record: UserRecord| {
            if !matches(query, &record) {
                return true;
            }
            if skipped < query.offset {
                skipped += 1;
            } else {
                out.push(record);
            }
            out.len() < wanted
        };
        match candidates {
            Some(ids) => {
                for id in ids {
                    if let Some(record) = self.get(id)?
                        && !visit(record)
                    {
                        break;
                    }
                }
            }
            None => {
                for kv in self.users.iter() {
                    let (key, raw) = kv?;
                    let id = id_of_key(&key)?;
                    if !visit(self.open_record(id, &raw)?) {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Ids that may match, from the indexes: the intersection over every indexed criterion, `None` when the
    /// query has no indexed criterion (a scan).
    fn candidates(&self, q: &UserQuery) -> Result<Option<BTreeSet<i64>>, StoreError> {
        let mut sets: Vec<BTreeSet<i64>> = Vec::new();
        if !q.ids.is_empty() {
            sets.push(q.ids.iter().copied().collect());
        }
        if !q.uuids.is_empty() {
            let mut ids = BTreeSet::new();
            for uuid in &q.uuids {
                ids.extend(self.id_of_uuid(uuid)?);
            }
            sets.push(ids);
        }
        let by_blind = |kind: u8, field: IndexedField, value: &str| {
            self.ids_with_prefix(&blind_prefix(kind, &self.blind.digest(field, value)))
        };
        if let Some(v) = &q.user_name {
            sets.push(by_blind(K_USERNAME, IndexedField::UserName, v)?);
        }
        if let Some(v) = &q.name {
            sets.push(by_blind(K_NAME, IndexedField::Name, v)?);
        }
        if let Some(v) = &q.email_id {
            sets.push(by_blind(K_EMAIL, IndexedField::EmailId, v)?);
        }
        if let Some(v) = &q.mobile_number {
            let mut ids = by_blind(K_MOBILE, IndexedField::MobileNumber, v)?;
            ids.extend(by_blind(K_ALT_MOBILE, IndexedField::AltMobileNumber, v)?);
            sets.push(ids);
        }
        if !q.role_tenants.is_empty() {
            let mut ids = BTreeSet::new();
            for tenant in &q.role_tenants {
                if q.role_codes.is_empty() {
                    ids.extend(self.ids_with_prefix(&role_tenant_prefix(tenant.as_str()))?);
                }
                for code in &q.role_codes {
                    ids.extend(self.ids_with_prefix(&role_prefix(tenant.as_str(), code))?);
                }
            }
            sets.push(ids);
        }
        if let (true, Some(tenant)) = (q.by_roles(), &q.tenant_id) {
            let mut ids = BTreeSet::new();
            for code in &q.role_codes {
                ids.extend(self.ids_with_prefix(&role_prefix(tenant.as_str(), code))?);
            }
            sets.push(ids);
        }
        Ok(sets
            .into_iter()
            .reduce(|a, b| a.intersection(&b).copied().collect()))
    }

    fn ids_with_prefix(&self, prefix: &[u8]) -> Result<BTreeSet<i64>, StoreError> {
        self.index
            .scan_prefix(prefix)
            .keys()
            .map(|k| {
                let k = k?;
                let tail: [u8; 8] = k[k.len() - 8..]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("index key".into()))?;
                Ok(i64::from_be_bytes(tail))
            })
            .collect()
    }
}

/// Whether `r` satisfies the non-indexed parts of `q` (and, against hash collisions, the indexed ones).
fn matches(q: &UserQuery, r: &UserRecord) -> bool {
    let same = |field: IndexedField, want: &Option<String>, have: Option<&str>| match want {
        None => true,
        Some(w) => have.is_some_and(|h| field.normalise(h) == field.normalise(w)),
    };
    let tenant_ok = match &q.tenant_id {
        None => true,
        Some(t) if q.by_roles() => r
            .roles
            .iter()
            .any(|role| role.tenant_id == *t && q.role_codes.contains(&role.code)),
        Some(t) => r.tenant_id == *t,
    };
    let mobile_ok = same(
        IndexedField::MobileNumber,
        &q.mobile_number,
        r.mobile_number.as_deref(),
    ) || same(
        IndexedField::AltMobileNumber,
        &q.mobile_number,
        r.alt_mobile_number.as_deref(),
    );
    tenant_ok
        && mobile_ok
        && q.role_tenants_match(&r.roles)
        && q.user_type.is_none_or(|t| t == r.user_type)
        && q.active.is_none_or(|a| a == r.active)
        && same(IndexedField::UserName, &q.user_name, Some(&r.user_name))
        && same(IndexedField::Name, &q.name, r.name.as_deref())
        && same(IndexedField::EmailId, &q.email_id, r.email_id.as_deref())
        && (q.ids.is_empty() || q.ids.contains(&r.id))
        && (q.uuids.is_empty() || q.uuids.contains(&r.uuid))
}
