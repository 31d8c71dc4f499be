//! One egov-user user as one of ours: the same id and uuid, the password hash as it is (bcrypt logs in and
//! is rehashed to argon2id at the first login), egov-user's codes read as egov-user meant them (gender by
//! schema, enum names for the guardian relation and the blood group), addresses by kind, roles with their
//! tenants. Our input rules apply to new writes, not to imported users: a row is skipped only when it cannot
//! be stored at all ([`Skip`]), and reported.

use actors::domain::roles::RoleCatalog;
use actors::domain::{
    Address, BloodGroup, Gender, Relationship, Role, TenantId, UserRecord, UserType,
};

use super::source::{Schema, SourceAddress, SourceUser};

/// Why a row cannot be stored (the import reports it; `import verify` fails while any remain: other DIGIT
/// services hold the user's uuid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// No uuid: nothing else could name the user.
    #[error("no uuid")]
    NoUuid,
    /// A uuid that is not one.
    #[error("its uuid is not a uuid")]
    BadUuid,
    /// A tenant id DIGIT's own pattern refuses.
    #[error("its tenant {0:?} is not a DIGIT tenant id")]
    BadTenant(String),
    /// No user type, or another one.
    #[error("its type {0:?} is none of CITIZEN, EMPLOYEE, SYSTEM, BUSINESS")]
    BadType(String),
    /// An empty userName.
    #[error("its userName is empty")]
    NoUserName,
    /// A role in a tenant DIGIT's pattern refuses.
    #[error("its role {code} is in tenant {tenant:?}, not a DIGIT tenant id")]
    BadRoleTenant {
        /// Role code.
        code: String,
        /// The tenant.
        tenant: String,
    },
}

/// `user` as a record of ours; `now_ms` stands in for dates egov-user left empty.
pub fn record(
    user: &SourceUser,
    schema: Schema,
    catalog: &RoleCatalog,
    now_ms: i64,
) -> Result<UserRecord, Skip> {
    if user.uuid.is_empty() {
        return Err(Skip::NoUuid);
    }
    let uuid = uuid::Uuid::parse_str(&user.uuid).map_err(|_| Skip::BadUuid)?;
    let tenant_id =
        TenantId::parse(&user.tenant).map_err(|_| Skip::BadTenant(user.tenant.clone()))?;
    let user_type =
        UserType::parse(&user.user_type).ok_or_else(|| Skip::BadType(user.user_type.clone()))?;
    if user.user_name.trim().is_empty() {
        return Err(Skip::NoUserName);
    }
    let text = |v: &Option<zeroize::Zeroizing<String>>| {
        v.as_deref()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let plain = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let created_date = user.created_ms.unwrap_or(now_ms);
    Ok(UserRecord {
        id: user.id,
        uuid: uuid.to_string(),
        tenant_id,
        user_type,
        user_name: user.user_name.trim().to_owned(),
        password_hash: Some(user.password_hash.trim().to_owned()).filter(|h| !h.is_empty()),
        salutation: plain(&user.salutation),
        name: text(&user.name),
        gender: gender(user.gender, schema),
        mobile_number: text(&user.mobile_number),
        country_code: plain(&user.country_code),
        alt_mobile_number: plain(&user.alt_mobile_number),
        email_id: text(&user.email),
        alt_contact_number: text(&user.alt_contact_number),
        pan: text(&user.pan),
        aadhaar_number: text(&user.aadhaar_number),
        permanent_address: address(&user.addresses, "PERMANENT"),
        correspondence_address: address(&user.addresses, "CORRESPONDENCE"),
        active: user.active,
        locale: plain(&user.locale),
        account_locked: user.account_locked,
        account_locked_date: user.account_locked_ms,
        guardian: text(&user.guardian),
        relationship: user
            .guardian_relation
            .as_deref()
            .and_then(|r| Relationship::parse(r.trim())),
        signature: plain(&user.signature),
        blood_group: user.blood_group.as_deref().and_then(BloodGroup::parse),
        photo: plain(&user.photo),
        identification_mark: plain(&user.identification_mark),
        created_by: user.created_by,
        last_modified_by: user.last_modified_by,
        created_date,
        last_modified_date: user.last_modified_ms.unwrap_or(created_date),
        dob: user.dob_ms,
        pwd_expiry_date: user.password_expiry_ms.unwrap_or(created_date),
        roles: roles(&user.roles, catalog)?,
        // core keeps no such flag: nobody is made to change a password by the move
        default_pwd_changed: user.default_password_changed.unwrap_or(true),
    })
}

/// egov-user's gender code: 1 female, 2 male; 3 is OTHERS in core and TRANSGENDER in mGramSeva's fork, 4
/// TRANSGENDER in core; 0 and anything else none.
fn gender(code: Option<i16>, schema: Schema) -> Option<Gender> {
    match (code?, schema) {
        (1, _) => Some(Gender::Female),
        (2, _) => Some(Gender::Male),
        (3, Schema::Core) => Some(Gender::Others),
        (3, Schema::Mgramseva) | (4, Schema::Core) => Some(Gender::Transgender),
        _ => None,
    }
}

/// The address of `kind`; egov-user files any other kind as CORRESPONDENCE.
fn address(addresses: &[SourceAddress], kind: &str) -> Option<Address> {
    let of_kind = |a: &&SourceAddress| {
        let is_permanent = a.kind.trim().eq_ignore_ascii_case("PERMANENT");
        is_permanent == (kind == "PERMANENT")
    };
    let a = addresses.iter().find(of_kind)?;
    Address {
        address: a.address.as_deref().map(|s| s.trim().to_owned()),
        city: a.city.clone(),
        pincode: a.pincode.clone(),
    }
    .non_empty()
}

/// The roles with their tenants, named from the catalog (a code the catalog lacks keeps its code as its
/// name), sorted and without duplicates.
fn roles(source: &[(String, String)], catalog: &RoleCatalog) -> Result<Vec<Role>, Skip> {
    let mut roles = Vec::with_capacity(source.len());
    for (code, tenant) in source {
        let tenant_id = TenantId::parse(tenant).map_err(|_| Skip::BadRoleTenant {
            code: code.clone(),
            tenant: tenant.clone(),
        })?;
        let code = code.trim().to_owned();
        let name = catalog
            .name_of(tenant_id.state().as_str(), &code)
            .unwrap_or(&code)
            .to_owned();
        roles.push(Role {
            code,
            name,
            tenant_id,
        });
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gender_codes_are_read_as_the_schema_that_wrote_them_meant() {
        assert_eq!(gender(Some(1), Schema::Core), Some(Gender::Female));
        assert_eq!(gender(Some(2), Schema::Mgramseva), Some(Gender::Male));
        assert_eq!(gender(Some(3), Schema::Core), Some(Gender::Others));
        assert_eq!(
            gender(Some(3), Schema::Mgramseva),
            Some(Gender::Transgender)
        );
        assert_eq!(gender(Some(4), Schema::Core), Some(Gender::Transgender));
        assert_eq!(gender(Some(0), Schema::Core), None);
        assert_eq!(gender(None, Schema::Core), None);
    }

    #[test]
    fn an_address_of_another_kind_is_the_correspondence_one_and_an_empty_one_is_none() {
        let a = |kind: &str, city: Option<&str>| SourceAddress {
            kind: kind.to_owned(),
            address: None,
            city: city.map(str::to_owned),
            pincode: None,
        };
        let addresses = [
            a("PERMANENT", Some("Amritsar")),
            a("OFFICE", Some("Patiala")),
        ];
        assert_eq!(
            address(&addresses, "PERMANENT").and_then(|x| x.city),
            Some("Amritsar".to_owned())
        );
        assert_eq!(
            address(&addresses, "CORRESPONDENCE").and_then(|x| x.city),
            Some("Patiala".to_owned())
        );
        assert_eq!(address(&[a("PERMANENT", None)], "PERMANENT"), None);
    }
}
