//! `import verify`: every row of egov-user's tables (of the tenant selected) read again and compared with
//! the user stored here under its id — its keys (uuid, userName, tenant, type) for every row, and for a
//! sample its decrypted fields, roles and addresses. A user changed here after the import (last modified
//! later than the source's row) is counted apart, not as a difference. Nothing compared is printed.

use actors::domain::UserRecord;
use actors::domain::roles::RoleCatalog;
use std::collections::HashMap;

use super::map::record;
use super::run::ImportError;
use super::source::{Selection, Source};

/// What a verification found. Rows are named by (id, tenant) only.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Rows read from the source.
    pub rows: u64,
    /// Rows whose user is here with the same keys.
    pub matched: u64,
    /// Rows compared field by field (the sample).
    pub sampled: u64,
    /// Users changed here after the import (not compared further).
    pub changed_here: u64,
    /// Rows our import cannot store (their reason is in the import's report).
    pub unstorable: Vec<(i64, String)>,
    /// Rows with no user here.
    pub missing: Vec<(i64, String)>,
    /// Rows whose user differs, with the first field that does.
    pub differ: Vec<(i64, String, &'static str)>,
}

impl Verified {
    /// Whether every row is here as the source has it.
    pub fn ok(&self) -> bool {
        self.unstorable.is_empty() && self.missing.is_empty() && self.differ.is_empty()
    }
}

/// Compares every row `selection` reads with the users `stored(ids)` finds of a batch's ids; one row in
/// `sample_every` field by field.
/// `undated_ms` stands in for dates egov-user left empty (the import's, which are not compared).
pub fn verify(
    source: &mut Source,
    selection: &Selection,
    catalog: &RoleCatalog,
    batch: i64,
    sample_every: u64,
    undated_ms: i64,
    mut stored: impl FnMut(&[i64]) -> Result<HashMap<i64, UserRecord>, ImportError>,
) -> Result<Verified, ImportError> {
    let mut found = Verified::default();
    let mut after = (i64::MIN, String::new());
    loop {
        let rows = source.batch(selection, (after.0, &after.1), batch)?;
        let Some(last) = rows.last() else {
            return Ok(found);
        };
        after = (last.id, last.tenant.clone());
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let here = stored(&ids)?;
        for row in &rows {
            let at = (row.id, row.tenant.clone());
            let sampled = found.rows % sample_every.max(1) == 0;
            found.rows += 1;
            let Ok(want) = record(row, source.schema(), catalog, undated_ms) else {
                found.unstorable.push(at);
                continue;
            };
            let Some(have) = here.get(&row.id).cloned() else {
                found.missing.push(at);
                continue;
            };
            if let Some(field) = first_key_difference(&want, &have) {
                found.differ.push((at.0, at.1, field));
                continue;
            }
            found.matched += 1;
            if have.last_modified_date > want.last_modified_date {
                found.changed_here += 1;
            } else if sampled {
                found.sampled += 1;
                if let Some(field) = first_field_difference(&want, &have) {
                    found.differ.push((at.0, at.1, field));
                    found.matched -= 1;
                }
            }
        }
    }
}

/// The first of the keys other services and logins name the user by that differs.
fn first_key_difference(want: &UserRecord, have: &UserRecord) -> Option<&'static str> {
    [
        ("uuid", want.uuid == have.uuid),
        ("userName", want.user_name == have.user_name),
        ("tenantId", want.tenant_id == have.tenant_id),
        ("type", want.user_type == have.user_type),
    ]
    .into_iter()
    .find_map(|(field, same)| (!same).then_some(field))
}

/// The first field of the sample's comparison that differs: the decrypted PII, roles, addresses and
/// states (the password hash is left out: a login rehashes it).
fn first_field_difference(want: &UserRecord, have: &UserRecord) -> Option<&'static str> {
    [
        ("name", want.name == have.name),
        ("mobileNumber", want.mobile_number == have.mobile_number),
        ("emailId", want.email_id == have.email_id),
        ("pan", want.pan == have.pan),
        ("aadhaarNumber", want.aadhaar_number == have.aadhaar_number),
        ("guardian", want.guardian == have.guardian),
        (
            "permanentAddress",
            want.permanent_address == have.permanent_address,
        ),
        (
            "correspondenceAddress",
            want.correspondence_address == have.correspondence_address,
        ),
        ("roles", want.roles == have.roles),
        ("active", want.active == have.active),
        ("accountLocked", want.account_locked == have.account_locked),
        ("gender", want.gender == have.gender),
    ]
    .into_iter()
    .find_map(|(field, same)| (!same).then_some(field))
}
