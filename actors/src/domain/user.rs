//! The user record as the registry keeps it (sealed whole at rest) and the role and address parts.

use serde::{Deserialize, Serialize};

use super::enums::{BloodGroup, Gender, Relationship, UserType};
use super::tenant::TenantId;

/// A role held by a user in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Role {
    /// Role code from the role catalog, e.g. `EMPLOYEE`.
    pub code: String,
    /// Display name from the catalog.
    pub name: String,
    /// Tenant the role applies in; a state-level tenant makes it apply in every city of the state.
    pub tenant_id: TenantId,
}

/// One postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street address.
    pub address: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Six-digit PIN code.
    pub pincode: Option<String>,
}

impl Address {
    /// `None` when every part is absent or blank: DIGIT keeps only non-empty addresses.
    pub fn non_empty(self) -> Option<Self> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.address) && blank(&self.city) && blank(&self.pincode) {
            None
        } else {
            Some(self)
        }
    }
}

/// A user of the registry. Every field here except ids, tenant, type, flags, roles and dates is PII and is
/// only ever written to disk sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Numeric id (carries the home partition, see `partition::mint_id`).
    pub id: i64,
    /// Stable external id (carries the home partition, see `partition::mint_uuid`).
    pub uuid: String,
    /// Tenant; state level for citizens.
    pub tenant_id: TenantId,
    /// Account kind.
    pub user_type: UserType,
    /// Login name; for citizens the mobile number.
    pub user_name: String,
    /// argon2id (or imported bcrypt) PHC string; `None` when no password was ever set.
    pub password_hash: Option<String>,
    /// `salutation`
    pub salutation: Option<String>,
    /// `name`
    pub name: Option<String>,
    /// `gender`
    pub gender: Option<Gender>,
    /// `mobileNumber`
    pub mobile_number: Option<String>,
    /// `countryCode`, resolved by the mobile rules
    pub country_code: Option<String>,
    /// `alternatemobilenumber`
    pub alt_mobile_number: Option<String>,
    /// `emailId`
    pub email_id: Option<String>,
    /// `altContactNumber`
    pub alt_contact_number: Option<String>,
    /// `pan`
    pub pan: Option<String>,
    /// `aadhaarNumber`
    pub aadhaar_number: Option<String>,
    /// `permanent*`
    pub permanent_address: Option<Address>,
    /// `correspondence*`
    pub correspondence_address: Option<Address>,
    /// `active`
    pub active: bool,
    /// `locale`
    pub locale: Option<String>,
    /// `accountLocked`
    pub account_locked: bool,
    /// `accountLockedDate`, epoch ms
    pub account_locked_date: Option<i64>,
    /// `fatherOrHusbandName`
    pub guardian: Option<String>,
    /// `relationship`
    pub relationship: Option<Relationship>,
    /// `signature` (filestore id)
    pub signature: Option<String>,
    /// `bloodGroup`
    pub blood_group: Option<BloodGroup>,
    /// `photo` (filestore id)
    pub photo: Option<String>,
    /// `identificationMark`
    pub identification_mark: Option<String>,
    /// numeric id of the creator (`RequestInfo.userInfo.id`)
    pub created_by: Option<i64>,
    /// numeric id of the last modifier
    pub last_modified_by: Option<i64>,
    /// epoch ms
    pub created_date: i64,
    /// epoch ms
    pub last_modified_date: i64,
    /// date of birth, epoch ms (midnight UTC of the given day)
    pub dob: Option<i64>,
    /// informational password expiry, epoch ms
    pub pwd_expiry_date: i64,
    /// roles, sorted and without duplicates
    pub roles: Vec<Role>,
    /// `defaultPwdChgd` (mGramSeva): `false` while the password is one an admin or HRMS set and the user
    /// has not changed it since (the app then makes them change it); records stored before this was kept
    /// read as `true`, so nobody is forced by an upgrade.
    #[serde(default = "set_by_user")]
    pub default_pwd_changed: bool,
}

fn set_by_user() -> bool {
    true
}

impl UserRecord {
    /// Whether the user holds `code` in `tenant` exactly.
    pub fn has_role_in(&self, code: &str, tenant: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.code == code && r.tenant_id.as_str() == tenant)
    }
}
