//! The fields a create or update request carries, and DIGIT's overwrite/keep rules for the two update
//! endpoints (contract 4.5.2, 4.4.7, 4.4.8), applied to the record loaded from the store — never to ids the
//! request names, so roles and addresses can never be orphaned.

use super::enums::{BloodGroup, Gender, Relationship, UserType};
use super::user::{Address, Role, UserRecord};

/// The user fields of a request after parsing (everything except userName, tenant, roles and password,
/// which each endpoint treats on its own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFields {
    /// `salutation`
    pub salutation: Option<String>,
    /// `name`
    pub name: Option<String>,
    /// `gender`
    pub gender: Option<Gender>,
    /// `mobileNumber`
    pub mobile_number: Option<String>,
    /// `countryCode` as resolved by the mobile rules
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
    pub permanent_address: Address,
    /// `correspondence*`
    pub correspondence_address: Address,
    /// `active`
    pub active: Option<bool>,
    /// `locale`
    pub locale: Option<String>,
    /// `type`
    pub user_type: Option<UserType>,
    /// `accountLocked`
    pub account_locked: Option<bool>,
    /// `accountLockedDate`
    pub account_locked_date: Option<i64>,
    /// `fatherOrHusbandName`
    pub guardian: Option<String>,
    /// `relationship`
    pub relationship: Option<Relationship>,
    /// `signature`
    pub signature: Option<String>,
    /// `bloodGroup`
    pub blood_group: Option<BloodGroup>,
    /// `photo`
    pub photo: Option<String>,
    /// `identificationMark`
    pub identification_mark: Option<String>,
    /// `dob`, epoch ms
    pub dob: Option<i64>,
    /// `pwdExpiryDate`, epoch ms
    pub pwd_expiry_date: Option<i64>,
    /// `defaultPwdChgd`: honoured by the admin update only
    pub default_pwd_changed: Option<bool>,
}

/// Who changes a record and when.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    /// `RequestInfo.userInfo.id` of the caller, if any.
    pub actor_id: Option<i64>,
    /// Epoch ms.
    pub now: i64,
}

/// A photo value that is the URL search handed out stands for "keep the stored filestore id".
fn merge_photo(old: &Option<String>, new: &Option<String>) -> Option<String> {
    match new {
        Some(p) if p.contains("http") => old.clone(),
        other => other.clone(),
    }
}

/// Fields every update overwrites from the request (absent ⇒ cleared).
fn overwrite_common(rec: &mut UserRecord, f: &UserFields) {
    rec.salutation = f.salutation.clone();
    rec.locale = f.locale.clone();
    rec.name = f.name.clone();
    rec.email_id = f.email_id.clone();
    rec.alt_contact_number = f.alt_contact_number.clone();
    rec.pan = f.pan.clone();
    rec.aadhaar_number = f.aadhaar_number.clone();
    rec.guardian = f.guardian.clone();
    rec.identification_mark = f.identification_mark.clone();
    rec.signature = f.signature.clone();
    rec.alt_mobile_number = f.alt_mobile_number.clone();
    rec.gender = f.gender;
    rec.relationship = f.relationship;
    rec.photo = merge_photo(&rec.photo, &f.photo);
    // Only non-empty addresses count; a stored address the request does not carry is removed.
    rec.permanent_address = f.permanent_address.clone().non_empty();
    rec.correspondence_address = f.correspondence_address.clone().non_empty();
    if let Some(dob) = f.dob {
        rec.dob = Some(dob);
    }
    if f.blood_group.is_some() {
        rec.blood_group = f.blood_group;
    }
}

/// `/user/users/_updatenovalidate`: the admin update. `roles` were validated and are non-empty;
/// `password_hash` is the new hash when the request set a password.
pub fn apply_admin_update(
    old: &UserRecord,
    f: &UserFields,
    roles: Vec<Role>,
    password_hash: Option<String>,
    change: Change,
) -> UserRecord {
    let mut rec = old.clone();
    overwrite_common(&mut rec, f);
    if let Some(m) = &f.mobile_number {
        rec.mobile_number = Some(m.clone());
    }
    if f.country_code.is_some() {
        rec.country_code = f.country_code.clone();
    }
    // a password an admin sets is one the user has not chosen: mGramSeva makes them change it (a flag the
    // request carries along, as a record read back from a search does, does not undo that)
    if password_hash.is_some() {
        rec.password_hash = password_hash;
        rec.default_pwd_changed = false;
    } else if let Some(changed) = f.default_pwd_changed {
        rec.default_pwd_changed = changed;
    }
    if let Some(expiry) = f.pwd_expiry_date {
        rec.pwd_expiry_date = expiry;
    }
    if let Some(active) = f.active {
        rec.active = active;
    }
    if let Some(locked) = f.account_locked {
        rec.account_locked = locked;
        if !locked {
            rec.account_locked_date = None;
        }
    }
    if f.account_locked_date.is_some() {
        rec.account_locked_date = f.account_locked_date;
    }
    if let Some(t) = f.user_type {
        rec.user_type = t;
    }
    rec.roles = roles;
    stamp(&mut rec, change);
    rec
}

/// `/user/profile/_update`: a user edits their own profile. userName, type, mobile number, country code,
/// password, password expiry, roles, lock state and `active` always keep their stored values.
pub fn apply_profile_update(old: &UserRecord, f: &UserFields, change: Change) -> UserRecord {
    let mut rec = old.clone();
    overwrite_common(&mut rec, f);
    stamp(&mut rec, change);
    rec
}

fn stamp(rec: &mut UserRecord, change: Change) {
    rec.last_modified_date = change.now;
    rec.last_modified_by = change.actor_id;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tenant::TenantId;

    fn stored() -> UserRecord {
        UserRecord {
            id: 65536,
            uuid: "u-1".into(),
            tenant_id: TenantId::parse("pb.amritsar").unwrap(),
            user_type: UserType::Employee,
            user_name: "EMP1".into(),
            password_hash: Some("$argon2id$old".into()),
            salutation: Some("Mr".into()),
            name: Some("Old Name".into()),
            gender: Some(Gender::Male),
            mobile_number: Some("9876543210".into()),
            country_code: Some("+91".into()),
            alt_mobile_number: Some("9123456780".into()),
            email_id: Some("old@example.org".into()),
            alt_contact_number: None,
            pan: Some("ABCDE1234F".into()),
            aadhaar_number: None,
            permanent_address: Some(Address {
                address: Some("H 1".into()),
                city: Some("Amritsar".into()),
                pincode: Some("143001".into()),
            }),
            correspondence_address: Some(Address {
                address: Some("H 2".into()),
                city: None,
                pincode: None,
            }),
            active: true,
            locale: Some("en_IN".into()),
            account_locked: true,
            account_locked_date: Some(5),
            guardian: None,
            relationship: None,
            signature: None,
            blood_group: Some(BloodGroup::OPositive),
            photo: Some("file-id-1".into()),
            identification_mark: None,
            created_by: Some(1),
            last_modified_by: Some(1),
            created_date: 1,
            last_modified_date: 1,
            dob: Some(100),
            pwd_expiry_date: 1000,
            roles: vec![],
            default_pwd_changed: true,
        }
    }

    const CHANGE: Change = Change {
        actor_id: Some(9),
        now: 77,
    };

    #[test]
    fn a_password_an_admin_sets_is_a_default_password_until_the_user_changes_it() {
        let kept = apply_admin_update(&stored(), &UserFields::default(), vec![], None, CHANGE);
        assert!(kept.default_pwd_changed, "absent: kept, not reset");
        let reset = apply_admin_update(
            &stored(),
            &UserFields::default(),
            vec![],
            Some("$argon2id$new".into()),
            CHANGE,
        );
        assert!(!reset.default_pwd_changed);
        let carried = UserFields {
            default_pwd_changed: Some(true),
            ..Default::default()
        };
        assert!(
            !apply_admin_update(
                &stored(),
                &carried,
                vec![],
                Some("$argon2id$x".into()),
                CHANGE
            )
            .default_pwd_changed,
            "a new password wins over a flag read back from a search"
        );
        let explicit = UserFields {
            default_pwd_changed: Some(false),
            ..Default::default()
        };
        assert!(
            !apply_admin_update(&stored(), &explicit, vec![], None, CHANGE).default_pwd_changed
        );
        let profile = UserFields {
            default_pwd_changed: Some(false),
            ..Default::default()
        };
        assert!(
            apply_profile_update(&stored(), &profile, CHANGE).default_pwd_changed,
            "a user cannot set it on their own profile"
        );
    }

    #[test]
    fn admin_update_overwrites_clears_and_keeps_per_digit_rules() {
        let f = UserFields {
            name: Some("New Name".into()),
            photo: Some("https://fs/x.png".into()),
            ..Default::default()
        };
        let new = apply_admin_update(&stored(), &f, vec![], None, CHANGE);
        // overwritten or cleared
        assert_eq!(new.name.as_deref(), Some("New Name"));
        assert_eq!(new.salutation, None);
        assert_eq!(new.email_id, None);
        assert_eq!(new.pan, None);
        assert_eq!(new.gender, None);
        assert_eq!(new.alt_mobile_number, None);
        assert_eq!(new.permanent_address, None);
        assert_eq!(new.correspondence_address, None);
        // kept when absent
        assert_eq!(new.mobile_number.as_deref(), Some("9876543210"));
        assert_eq!(new.dob, Some(100));
        assert_eq!(new.blood_group, Some(BloodGroup::OPositive));
        assert_eq!(new.password_hash.as_deref(), Some("$argon2id$old"));
        assert!(new.active);
        assert!(new.account_locked);
        assert_eq!(new.user_type, UserType::Employee);
        // photo URL from search keeps the stored id
        assert_eq!(new.photo.as_deref(), Some("file-id-1"));
        assert_eq!(
            (new.last_modified_by, new.last_modified_date),
            (Some(9), 77)
        );
        // identity never changes
        assert_eq!(
            (new.id, new.uuid.as_str(), new.user_name.as_str()),
            (65536, "u-1", "EMP1")
        );
    }

    #[test]
    fn admin_update_can_unlock_change_type_and_set_password() {
        let f = UserFields {
            account_locked: Some(false),
            user_type: Some(UserType::System),
            ..Default::default()
        };
        let new = apply_admin_update(&stored(), &f, vec![], Some("$argon2id$new".into()), CHANGE);
        assert!(!new.account_locked);
        assert_eq!(new.account_locked_date, None);
        assert_eq!(new.user_type, UserType::System);
        assert_eq!(new.password_hash.as_deref(), Some("$argon2id$new"));
    }

    #[test]
    fn a_new_photo_id_replaces_the_old_one() {
        let f = UserFields {
            photo: Some("file-id-2".into()),
            ..Default::default()
        };
        assert_eq!(
            apply_profile_update(&stored(), &f, CHANGE).photo.as_deref(),
            Some("file-id-2")
        );
    }

    #[test]
    fn profile_update_never_touches_protected_fields() {
        let f = UserFields {
            mobile_number: Some("9000000000".into()),
            country_code: Some("+1".into()),
            active: Some(false),
            account_locked: Some(false),
            user_type: Some(UserType::Citizen),
            pwd_expiry_date: Some(5),
            name: Some("Me".into()),
            permanent_address: Address {
                address: Some("New".into()),
                city: None,
                pincode: None,
            },
            ..Default::default()
        };
        let new = apply_profile_update(&stored(), &f, CHANGE);
        assert_eq!(new.mobile_number.as_deref(), Some("9876543210"));
        assert_eq!(new.country_code.as_deref(), Some("+91"));
        assert!(new.active);
        assert!(new.account_locked);
        assert_eq!(new.user_type, UserType::Employee);
        assert_eq!(new.pwd_expiry_date, 1000);
        assert_eq!(new.name.as_deref(), Some("Me"));
        assert_eq!(
            new.permanent_address.unwrap().address.as_deref(),
            Some("New")
        );
    }
}
