//! DIGIT's user JSON (contract 4.3): binding the request's `user`, its bean validation with DIGIT's codes
//! (`Size.createUserRequest.user.name`), conversion into domain types, and the response views.

use actors::domain::enums::{BloodGroup, Gender, Relationship, UserType};
use actors::domain::masking::{MaskingPolicy, PiiField};
use actors::domain::roles::RoleRequest;
use actors::domain::rules::{CITY_PATTERN, Checker, Constraint, TENANT_PATTERN};
use actors::domain::update::UserFields;
use actors::domain::{Address, TenantId, UserRecord};
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::dates;
use super::error::{ApiError, ErrorEntry};
use super::json::{opt_bool, opt_i64, opt_string};

mod out;
use crate::service::registry::UserDraft;
pub use out::{Maybe, ResponseInfo, RoleOut, UserOut, UsersResponse, View};

/// The request's `user` object (keys folded to lower case).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct UserIn {
    #[serde(deserialize_with = "opt_i64")]
    pub id: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub username: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub password: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub salutation: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub gender: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub mobilenumber: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub countrycode: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub alternatemobilenumber: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub emailid: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub altcontactnumber: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub pan: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub aadhaarnumber: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub permanentaddress: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub permanentcity: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub permanentpincode: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub correspondenceaddress: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub correspondencecity: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub correspondencepincode: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub active: Option<bool>,
    #[serde(deserialize_with = "opt_string")]
    pub locale: Option<String>,
    #[serde(rename = "type", deserialize_with = "opt_string")]
    pub user_type: Option<String>,
    #[serde(deserialize_with = "opt_bool")]
    pub accountlocked: Option<bool>,
    #[serde(deserialize_with = "opt_bool")]
    pub defaultpwdchgd: Option<bool>,
    #[serde(deserialize_with = "opt_i64")]
    pub accountlockeddate: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub fatherorhusbandname: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub relationship: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub signature: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub bloodgroup: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub photo: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub identificationmark: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub otpreference: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    pub tenantid: Option<String>,
    pub roles: Option<Vec<RoleIn>>,
    pub dob: Value,
    pub pwdexpirydate: Value,
}

/// A role of the request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleIn {
    /// code
    #[serde(deserialize_with = "opt_string")]
    pub code: Option<String>,
    /// tenant
    #[serde(deserialize_with = "opt_string")]
    pub tenantid: Option<String>,
}

impl UserIn {
    /// Every PII value of this update that is the masked form of `stored`'s (a client that read a masked
    /// search and sends it back) replaced by the stored value, before anything checks it: what the client
    /// could not see, it does not change.
    pub fn unmask(&mut self, stored: &UserRecord, policy: &MaskingPolicy) {
        for (field, value) in [
            (PiiField::Name, &mut self.name),
            (PiiField::UserName, &mut self.username),
            (PiiField::MobileNumber, &mut self.mobilenumber),
            (
                PiiField::AlternateMobileNumber,
                &mut self.alternatemobilenumber,
            ),
            (PiiField::EmailId, &mut self.emailid),
            (PiiField::AltContactNumber, &mut self.altcontactnumber),
            (PiiField::Pan, &mut self.pan),
            (PiiField::AadhaarNumber, &mut self.aadhaarnumber),
            (PiiField::FatherOrHusbandName, &mut self.fatherorhusbandname),
            (PiiField::PermanentAddress, &mut self.permanentaddress),
            (
                PiiField::CorrespondenceAddress,
                &mut self.correspondenceaddress,
            ),
        ] {
            if let Some(kept) = value
                .as_deref()
                .and_then(|v| policy.stored_behind(stored, field, v))
            {
                *value = Some(kept);
            }
        }
    }

    /// DIGIT's bean validation of a create/update body; all violations come back together.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut c = Checker::new();
        c.max_len("uuid", s(&self.uuid), 36)
            .safe_html("uuid", s(&self.uuid));
        c.max_len("userName", s(&self.username), 64)
            .safe_html("userName", s(&self.username))
            .plain_text("userName", s(&self.username));
        c.max_len("password", s(&self.password), 64);
        c.max_len("salutation", s(&self.salutation), 5)
            .safe_html("salutation", s(&self.salutation));
        c.max_len("name", s(&self.name), 50)
            .name_pattern("name", s(&self.name))
            .plain_text("name", s(&self.name));
        c.max_len("gender", s(&self.gender), 15)
            .letters_spaces("gender", s(&self.gender));
        c.max_len("countryCode", s(&self.countrycode), 10);
        c.max_len("emailId", s(&self.emailid), 128)
            .email("emailId", s(&self.emailid));
        c.max_len("altContactNumber", s(&self.altcontactnumber), 50)
            .safe_html("altContactNumber", s(&self.altcontactnumber));
        c.max_len("pan", s(&self.pan), 10)
            .safe_html("pan", s(&self.pan));
        c.max_len("aadhaarNumber", s(&self.aadhaarnumber), 20)
            .safe_html("aadhaarNumber", s(&self.aadhaarnumber));
        for (field, v) in [
            ("permanentAddress", &self.permanentaddress),
            ("correspondenceAddress", &self.correspondenceaddress),
        ] {
            c.max_len(field, s(v), 300).safe_html(field, s(v));
        }
        for (field, v) in [
            ("permanentCity", &self.permanentcity),
            ("correspondenceCity", &self.correspondencecity),
        ] {
            c.max_len(field, s(v), 50)
                .letters_dots_spaces(field, s(v), CITY_PATTERN);
        }
        for (field, v) in [
            ("permanentPinCode", &self.permanentpincode),
            ("correspondencePinCode", &self.correspondencepincode),
        ] {
            c.max_len(field, s(v), 10).pincode(field, s(v));
        }
        c.max_len("locale", s(&self.locale), 16)
            .safe_html("locale", s(&self.locale));
        c.max_len("fatherOrHusbandName", s(&self.fatherorhusbandname), 50)
            .name_pattern("fatherOrHusbandName", s(&self.fatherorhusbandname))
            .plain_text("fatherOrHusbandName", s(&self.fatherorhusbandname));
        c.max_len("signature", s(&self.signature), 36)
            .safe_html("signature", s(&self.signature));
        c.max_len("photo", s(&self.photo), 36)
            .safe_html("photo", s(&self.photo));
        c.max_len("bloodGroup", s(&self.bloodgroup), 32)
            .safe_html("bloodGroup", s(&self.bloodgroup));
        c.max_len("identificationMark", s(&self.identificationmark), 300)
            .safe_html("identificationMark", s(&self.identificationmark));
        for role in self.roles.iter().flatten() {
            c.letters_dots_spaces("roles.tenantId", role.tenantid.as_deref(), TENANT_PATTERN);
        }
        c.safe_html("otpReference", s(&self.otpreference));
        c.max_len("tenantId", s(&self.tenantid), 50)
            .letters_dots_spaces("tenantId", s(&self.tenantid), TENANT_PATTERN);
        let violations = c.finish();
        if violations.is_empty() {
            return Ok(());
        }
        Err(ApiError::many(
            violations
                .into_iter()
                .map(|v| ErrorEntry {
                    code: format!(
                        "{}.createUserRequest.user.{}",
                        constraint_name(v.constraint),
                        v.field
                    ),
                    message: v.message,
                    description: None,
                    params: None,
                })
                .collect(),
        ))
    }

    /// Converts into the domain draft; enum and date errors as DIGIT reports them.
    pub fn into_draft(self) -> Result<UserDraft, ApiError> {
        let gender = match self.gender.as_deref().filter(|g| !g.trim().is_empty()) {
            None => None,
            Some(g) => Some(Gender::parse(g).map_err(|bad| {
                ApiError::exception(
                    "IllegalArgumentException",
                    format!("No enum constant org.egov.user.domain.model.enums.Gender.{bad}"),
                )
            })?),
        };
        let relationship = match self.relationship.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(Relationship::parse(r).ok_or_else(|| {
                ApiError::custom(
                    "JsonMappingException",
                    format!("Failed to parse field - user.relationship. Expected one of FATHER, MOTHER, HUSBAND, OTHER, got {r:?}"),
                )
            })?),
        };
        let dob = dates::parse_dob(&self.dob).map_err(|dates::BadDate| {
            ApiError::custom(
                "JsonMappingException",
                "Failed to parse field - user.dob. Expected type is date (dd/MM/yyyy)",
            )
        })?;
        let pwd_expiry_date = dates::parse_timestamp(&self.pwdexpirydate).map_err(|dates::BadDate| {
            ApiError::custom(
                "JsonMappingException",
                "Failed to parse field - user.pwdExpiryDate. Expected type is date (dd-MM-yyyy HH:mm:ss)",
            )
        })?;
        let blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let tenant_id = blank(self.tenantid).and_then(|t| TenantId::parse(&t).ok());
        let roles = self.roles.map(|roles| {
            roles
                .into_iter()
                .filter_map(|r| {
                    let code = r.code.filter(|c| !c.trim().is_empty())?;
                    let tenant_id = r.tenantid.and_then(|t| TenantId::parse(&t).ok());
                    Some(RoleRequest { code, tenant_id })
                })
                .collect()
        });
        Ok(UserDraft {
            id: self.id,
            uuid: blank(self.uuid),
            user_name: blank(self.username),
            password: blank(self.password).map(Zeroizing::new),
            otp_reference: blank(self.otpreference),
            tenant_id,
            roles,
            fields: UserFields {
                salutation: self.salutation,
                name: self.name,
                gender,
                mobile_number: blank(self.mobilenumber),
                country_code: blank(self.countrycode),
                alt_mobile_number: blank(self.alternatemobilenumber),
                email_id: self.emailid,
                alt_contact_number: self.altcontactnumber,
                pan: self.pan,
                aadhaar_number: self.aadhaarnumber,
                permanent_address: Address {
                    address: self.permanentaddress,
                    city: self.permanentcity,
                    pincode: self.permanentpincode,
                },
                correspondence_address: Address {
                    address: self.correspondenceaddress,
                    city: self.correspondencecity,
                    pincode: self.correspondencepincode,
                },
                active: self.active,
                locale: self.locale,
                user_type: self.user_type.as_deref().and_then(UserType::parse),
                account_locked: self.accountlocked,
                account_locked_date: self.accountlockeddate,
                guardian: self.fatherorhusbandname,
                relationship,
                signature: self.signature,
                blood_group: self.bloodgroup.as_deref().and_then(BloodGroup::parse),
                photo: self.photo,
                identification_mark: self.identificationmark,
                dob,
                pwd_expiry_date,
                default_pwd_changed: self.defaultpwdchgd,
            },
        })
    }
}

fn s(v: &Option<String>) -> Option<&str> {
    v.as_deref()
}

/// The constraint's name as Hibernate Validator spells it in DIGIT's codes.
pub fn constraint_name(c: Constraint) -> &'static str {
    match c {
        Constraint::Size => "Size",
        Constraint::Pattern => "Pattern",
        Constraint::Email => "Email",
        Constraint::SafeHtml => "CustomSafeHtml",
    }
}

/// `NotNull.createUserRequest.user` — the wrapper is missing.
pub fn missing_user() -> ApiError {
    ApiError::many(vec![ErrorEntry {
        code: "NotNull.createUserRequest.user".into(),
        message: "may not be null".into(),
        description: None,
        params: None,
    }])
}
