//! A user as egov-user answers it: DIGIT's field order, nulls written, dates per view.

use actors::domain::enums::{BloodGroup, Gender, Relationship};
use actors::domain::{Address, UserRecord};
use serde::Serialize;

use crate::http::dates;

/// Which response representation (contract 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `UserRequest`: create responses.
    Created,
    /// `UpdateRequest`: update responses.
    Updated,
    /// `UserSearchResponseContent`: search responses.
    Searched,
}

/// A field some views leave out.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Maybe<T> {
    /// Written (possibly as null).
    Show(T),
    /// Not written.
    Omit,
}

impl<T> Maybe<T> {
    fn is_omit(&self) -> bool {
        matches!(self, Maybe::Omit)
    }
}

/// A role in a response.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleOut {
    /// code
    pub code: String,
    /// name
    pub name: String,
    /// tenantId
    pub tenant_id: String,
}

/// A user in a response, in DIGIT's field order, nulls written.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct UserOut {
    pub id: i64,
    pub user_name: String,
    pub salutation: Option<String>,
    pub name: Option<String>,
    pub gender: Option<&'static str>,
    pub mobile_number: Option<String>,
    #[serde(skip_serializing_if = "Maybe::is_omit")]
    #[schema(value_type = Option<String>)]
    pub country_code: Maybe<Option<String>>,
    #[serde(rename = "alternatemobilenumber")]
    pub alternate_mobile_number: Option<String>,
    pub email_id: Option<String>,
    pub alt_contact_number: Option<String>,
    pub pan: Option<String>,
    pub aadhaar_number: Option<String>,
    pub permanent_address: Option<String>,
    pub permanent_city: Option<String>,
    pub permanent_pin_code: Option<String>,
    pub correspondence_address: Option<String>,
    pub correspondence_city: Option<String>,
    pub correspondence_pin_code: Option<String>,
    pub active: bool,
    pub locale: Option<String>,
    #[serde(rename = "type")]
    pub user_type: &'static str,
    pub account_locked: bool,
    pub account_locked_date: Option<i64>,
    pub father_or_husband_name: Option<String>,
    #[serde(skip_serializing_if = "Maybe::is_omit")]
    #[schema(value_type = Option<String>)]
    pub relationship: Maybe<Option<&'static str>>,
    pub signature: Option<String>,
    pub blood_group: Option<&'static str>,
    pub photo: Option<String>,
    pub identification_mark: Option<String>,
    pub created_by: Option<i64>,
    #[serde(skip_serializing_if = "Maybe::is_omit")]
    #[schema(value_type = Option<String>)]
    pub password: Maybe<Option<String>>,
    #[serde(skip_serializing_if = "Maybe::is_omit")]
    #[schema(value_type = Option<String>)]
    pub otp_reference: Maybe<Option<String>>,
    pub last_modified_by: Option<i64>,
    pub tenant_id: String,
    pub roles: Vec<RoleOut>,
    pub uuid: String,
    pub created_date: Option<String>,
    pub last_modified_date: Option<String>,
    pub dob: Option<String>,
    pub pwd_expiry_date: Option<String>,
    /// mGramSeva's fork writes it last in search and create answers (not in update answers).
    #[serde(skip_serializing_if = "Maybe::is_omit")]
    #[schema(value_type = Option<bool>)]
    pub default_pwd_chgd: Maybe<bool>,
}

impl UserOut {
    /// The representation of `r` for `view`. Search and update responses write 0 for an absent creator,
    /// modifier or lock date, as DIGIT's row mapping does.
    pub fn of(r: &UserRecord, view: View) -> Self {
        let stored = view != View::Created;
        let zero_if_none = |v: Option<i64>| if stored { Some(v.unwrap_or(0)) } else { v };
        let show_unless = |omit_in: View| view != omit_in;
        let addr = |a: &Option<Address>, f: fn(&Address) -> &Option<String>| {
            a.as_ref().and_then(|a| f(a).clone())
        };
        Self {
            id: r.id,
            user_name: r.user_name.clone(),
            salutation: r.salutation.clone(),
            name: r.name.clone(),
            gender: r.gender.map(Gender::as_str),
            mobile_number: r.mobile_number.clone(),
            country_code: if show_unless(View::Updated) {
                Maybe::Show(r.country_code.clone())
            } else {
                Maybe::Omit
            },
            alternate_mobile_number: r.alt_mobile_number.clone(),
            email_id: r.email_id.clone(),
            alt_contact_number: r.alt_contact_number.clone(),
            pan: r.pan.clone(),
            aadhaar_number: r.aadhaar_number.clone(),
            permanent_address: addr(&r.permanent_address, |a| &a.address),
            permanent_city: addr(&r.permanent_address, |a| &a.city),
            permanent_pin_code: addr(&r.permanent_address, |a| &a.pincode),
            correspondence_address: addr(&r.correspondence_address, |a| &a.address),
            correspondence_city: addr(&r.correspondence_address, |a| &a.city),
            correspondence_pin_code: addr(&r.correspondence_address, |a| &a.pincode),
            active: r.active,
            locale: r.locale.clone(),
            user_type: r.user_type.as_str(),
            account_locked: r.account_locked,
            account_locked_date: zero_if_none(r.account_locked_date),
            father_or_husband_name: r.guardian.clone(),
            relationship: if show_unless(View::Updated) {
                Maybe::Show(r.relationship.map(Relationship::as_str))
            } else {
                Maybe::Omit
            },
            signature: r.signature.clone(),
            blood_group: r.blood_group.map(BloodGroup::symbol),
            photo: r.photo.clone(),
            identification_mark: r.identification_mark.clone(),
            created_by: zero_if_none(r.created_by),
            password: if show_unless(View::Searched) {
                Maybe::Show(None)
            } else {
                Maybe::Omit
            },
            otp_reference: if show_unless(View::Searched) {
                Maybe::Show(None)
            } else {
                Maybe::Omit
            },
            last_modified_by: zero_if_none(r.last_modified_by),
            tenant_id: r.tenant_id.to_string(),
            roles: r
                .roles
                .iter()
                .map(|role| RoleOut {
                    code: role.code.clone(),
                    name: role.name.clone(),
                    tenant_id: role.tenant_id.to_string(),
                })
                .collect(),
            uuid: r.uuid.clone(),
            created_date: dates::timestamp(r.created_date),
            last_modified_date: dates::timestamp(r.last_modified_date),
            dob: r.dob.and_then(if view == View::Created {
                dates::dob_slash
            } else {
                dates::dob_dash
            }),
            pwd_expiry_date: dates::timestamp(r.pwd_expiry_date),
            default_pwd_chgd: if show_unless(View::Updated) {
                Maybe::Show(r.default_pwd_changed)
            } else {
                Maybe::Omit
            },
        }
    }
}

/// egov-user's success envelope: `{"responseInfo": {… "status": "200"}, "user": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsersResponse {
    /// responseInfo
    pub response_info: ResponseInfo,
    /// user
    pub user: Vec<UserOut>,
}

/// egov-user's `ResponseInfo` with only `status` set.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ResponseInfo {
    pub api_id: Option<String>,
    pub ver: Option<String>,
    pub ts: Option<i64>,
    pub res_msg_id: Option<String>,
    pub msg_id: Option<String>,
    pub status: &'static str,
}

impl UsersResponse {
    /// The envelope around `users` in `view`.
    pub fn new(users: &[UserRecord], view: View) -> Self {
        Self {
            response_info: ResponseInfo {
                api_id: None,
                ver: None,
                ts: None,
                res_msg_id: None,
                msg_id: None,
                status: "200",
            },
            user: users.iter().map(|u| UserOut::of(u, view)).collect(),
        }
    }
}
