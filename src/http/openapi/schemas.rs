//! The wire shapes the description names that no Rust type of the service serializes as it is: DIGIT's
//! lenient request bodies (bound after their keys are folded to lower case, so the camelCase names here are
//! what clients send and any case works), the error shapes E1–E4 and a few answers written as JSON values.
//! Types only the description uses; the handlers bind and answer with their own.

use serde::Serialize;
use utoipa::ToSchema;

/// A value DIGIT clients send as a string or a number (`ver`, `ts`, ids, codes): both are read.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum StringOrNumber {
    /// As text.
    Text(String),
    /// As a number.
    Number(f64),
}

/// A value DIGIT clients send as a boolean or as `"true"`/`"false"`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Flag {
    /// A boolean.
    Bool(bool),
    /// `"true"` or `"false"`, any case.
    Text(String),
}

/// The calling user as the gateway or a calling service describes it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// Their id.
    pub id: Option<StringOrNumber>,
    /// Their uuid.
    pub uuid: Option<String>,
    /// Their userName.
    pub user_name: Option<String>,
    /// CITIZEN, EMPLOYEE, SYSTEM or BUSINESS.
    #[serde(rename = "type")]
    pub user_type: Option<String>,
    /// Their roles (each `code` is read).
    pub roles: Option<Vec<RoleIn>>,
}

/// A request for masked fields of one record in clear (audited).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlainAccessRequest {
    /// The record's uuid.
    pub record_id: Option<String>,
    /// The fields asked in clear (mobileNumber, name, emailId, …).
    pub plain_request_fields: Option<Vec<String>>,
}

/// DIGIT's `RequestInfo`: every key optional; only `msgId`, `authToken`, `userInfo` and `plainAccessRequest`
/// are read, others (`apiId`, `ver`, `ts` as a number or `""`, `action`, `did`, `key`, …) are accepted and
/// ignored.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestInfo {
    /// Ignored.
    pub api_id: Option<String>,
    /// Ignored; a string or a number.
    pub ver: Option<StringOrNumber>,
    /// Ignored; epoch ms, a string or `""`.
    pub ts: Option<StringOrNumber>,
    /// `<timestamp>|<locale>`: the locale of OTP messages.
    pub msg_id: Option<String>,
    /// The caller's access token (password change).
    pub auth_token: Option<String>,
    /// Echoed in logs as the correlation id.
    pub correlation_id: Option<String>,
    /// The caller (roles decide what a search shows).
    pub user_info: Option<UserInfo>,
    /// Masked fields of one record asked in clear.
    pub plain_access_request: Option<PlainAccessRequest>,
}

/// A role as a request names it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleIn {
    /// The role code (in the role catalog of the state).
    pub code: Option<String>,
    /// Ignored.
    pub name: Option<String>,
    /// The tenant it is held in (defaults to the user's).
    pub tenant_id: Option<String>,
}

/// A user as a create or an update sends it. Strings may be sent as numbers or booleans and are read as
/// text; integers as numeric strings; booleans as `"true"`/`"false"`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIn {
    /// Ignored on create.
    pub id: Option<StringOrNumber>,
    /// The user to update (required by updates).
    pub uuid: Option<String>,
    /// Required on create; never changed by an update.
    pub user_name: Option<String>,
    /// Checked against the password policy.
    pub password: Option<String>,
    /// Mr, Ms, …
    pub salutation: Option<String>,
    /// Required on create.
    pub name: Option<String>,
    /// FEMALE, MALE, OTHERS or TRANSGENDER (any case).
    pub gender: Option<String>,
    /// Required on create (the state's mobile pattern).
    pub mobile_number: Option<String>,
    /// Of the state's mobile rules.
    pub country_code: Option<String>,
    /// An alternate number (DIGIT's lower-case key).
    pub alternatemobilenumber: Option<String>,
    /// An e-mail address.
    pub email_id: Option<String>,
    /// Another contact number.
    pub alt_contact_number: Option<String>,
    /// PAN.
    pub pan: Option<String>,
    /// Aadhaar number.
    pub aadhaar_number: Option<String>,
    /// Permanent address.
    pub permanent_address: Option<String>,
    /// Permanent city.
    pub permanent_city: Option<String>,
    /// Permanent pin code.
    pub permanent_pin_code: Option<String>,
    /// Correspondence address.
    pub correspondence_address: Option<String>,
    /// Correspondence city.
    pub correspondence_city: Option<String>,
    /// Correspondence pin code.
    pub correspondence_pin_code: Option<String>,
    /// Active.
    pub active: Option<Flag>,
    /// en_IN, hi_IN, …
    pub locale: Option<String>,
    /// CITIZEN, EMPLOYEE, SYSTEM or BUSINESS (required on create).
    #[serde(rename = "type")]
    pub user_type: Option<String>,
    /// `false` on an admin update ends a lock.
    pub account_locked: Option<Flag>,
    /// Epoch ms.
    pub account_locked_date: Option<StringOrNumber>,
    /// Guardian.
    pub father_or_husband_name: Option<String>,
    /// FATHER, MOTHER, HUSBAND or OTHER.
    pub relationship: Option<String>,
    /// A file store id.
    pub signature: Option<String>,
    /// A+, A-, …, O- (or A_POSITIVE, …).
    pub blood_group: Option<String>,
    /// A file store id.
    pub photo: Option<String>,
    /// Identification mark.
    pub identification_mark: Option<String>,
    /// An OTP (citizen registration; the profile re-check).
    pub otp_reference: Option<String>,
    /// Required on create.
    pub tenant_id: Option<String>,
    /// At least one (create, admin update).
    pub roles: Option<Vec<RoleIn>>,
    /// `dd/MM/yyyy`, `yyyy-MM-dd` or epoch ms.
    pub dob: Option<StringOrNumber>,
    /// `dd-MM-yyyy HH:mm:ss` or epoch ms.
    pub pwd_expiry_date: Option<StringOrNumber>,
    /// mGramSeva: the default password was changed.
    pub default_pwd_chgd: Option<Flag>,
}

/// `{"RequestInfo", "user"}` (keys in any case: the web UI's registration sends `User`).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "RequestInfo": {"apiId": "Rainmaker", "ver": ".01", "ts": "", "msgId": "20170310130900|en_IN",
                    "userInfo": {"uuid": "5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f70", "type": "EMPLOYEE",
                                 "roles": [{"code": "SUPERUSER"}]}},
    "user": {"userName": "EMP-EXAMPLE-1", "name": "Asha Devi", "mobileNumber": "9876543210",
             "password": "Example@123", "gender": "FEMALE", "type": "EMPLOYEE", "tenantId": "pb.amritsar",
             "active": true, "dob": "15/08/1990", "roles": [{"code": "EMPLOYEE", "tenantId": "pb.amritsar"}]}
}))]
pub struct UserRequest {
    /// The caller.
    #[serde(rename = "RequestInfo")]
    pub request_info: Option<RequestInfo>,
    /// The user.
    pub user: UserIn,
}

/// A search: one of userName, name, mobileNumber, emailId, uuid (inter-service also id, roleCodes) with a
/// tenantId where the name needs one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "RequestInfo": {"userInfo": {"type": "EMPLOYEE", "roles": [{"code": "GRO"}]}},
    "userName": "EMP-EXAMPLE-1", "tenantId": "pb.amritsar", "pageSize": 10
}))]
pub struct SearchRequest {
    /// The caller (their roles decide what is shown in clear).
    #[serde(rename = "RequestInfo")]
    pub request_info: Option<RequestInfo>,
    /// Ids (one or a list, numbers or numeric strings).
    pub id: Option<Vec<StringOrNumber>>,
    /// Uuids (one or a list).
    pub uuid: Option<Vec<String>>,
    /// Exact userName.
    pub user_name: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Mobile number.
    pub mobile_number: Option<String>,
    /// E-mail address.
    pub email_id: Option<String>,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// Tenants holding the roles (`_searchByTenant`: required).
    pub tenant_ids: Option<Vec<String>>,
    /// CITIZEN, EMPLOYEE, …
    pub user_type: Option<String>,
    /// `/user/_search`: `true` when absent.
    pub active: Option<Flag>,
    /// Role codes (at most 100).
    pub role_codes: Option<Vec<String>>,
    /// Page size.
    pub page_size: Option<StringOrNumber>,
    /// Rows to skip.
    pub page_number: Option<StringOrNumber>,
    /// Sort keys (id, name, userName, …).
    pub sort: Option<Vec<String>>,
}

/// `{"responseInfo"}` of a password change.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChanged {
    /// Status `"200"`.
    pub response_info: crate::http::user_json::ResponseInfo,
}

/// One entry of an E1 error.
#[derive(Serialize, ToSchema)]
pub struct ErrorEntry {
    /// The code (an exception name, a bean-validation code, …).
    pub code: String,
    /// The message.
    pub message: String,
    /// More, or null.
    pub description: Option<String>,
    /// Parameters, or null.
    pub params: Option<Vec<String>>,
}

/// E1, egov-user's error shape (every endpoint but the OTP ones, the token endpoint and logout; also the
/// retryable 503s of routing — `PARTITION_MOVING`, `OWNER_UNAVAILABLE` with `Retry-After` — on every
/// endpoint).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"ResponseInfo": null, "Errors": [
    {"code": "InvalidUserCreateException", "message": "An unhandled exception occurred on the server",
     "description": "name is mandatory", "params": null}]}))]
pub struct TracerError {
    /// Always null.
    #[serde(rename = "ResponseInfo")]
    pub response_info: Option<String>,
    /// At least one.
    #[serde(rename = "Errors")]
    pub errors: Vec<ErrorEntry>,
}

/// A field of an E2 error.
#[derive(Serialize, ToSchema)]
pub struct FieldError {
    /// The code (`OTP.TENANT_ID_MANDATORY`, …).
    pub code: String,
    /// The message.
    pub message: String,
    /// The field (`otp.mobileNumber`, …; may be empty).
    pub field: String,
}

/// The body of an E2 error.
#[derive(Serialize, ToSchema)]
pub struct LegacyErrorBody {
    /// The HTTP status.
    pub code: u16,
    /// The message.
    pub message: String,
    /// Always null.
    pub description: Option<String>,
    /// The failed fields.
    pub fields: Vec<FieldError>,
}

/// E2, the error shape of egov-otp and user-otp.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"responseInfo": null, "error": {"code": 400, "message": "OTP validation unsuccessful",
    "description": null, "fields": [{"code": "OTP.VALIDATION_UNSUCCESSFUL",
    "message": "OTP validation unsuccessful", "field": "otp.otp"}]}}))]
pub struct LegacyError {
    /// Always null.
    #[serde(rename = "responseInfo")]
    pub response_info: Option<String>,
    /// The error.
    pub error: LegacyErrorBody,
    /// A sentence to show (429 of `_send` only).
    pub error_description: Option<String>,
}

/// E3, the token endpoint's OAuth error.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_request", "error_description": "Invalid login credentials"}))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant`, `unauthorized`, …
    pub error: String,
    /// The reason.
    pub error_description: String,
}

/// A logout's answer (`status`: `Logout successfully`), and the `ResponseInfo` of E4 (`Logout failed`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutInfo {
    /// `""`.
    pub api_id: String,
    /// `""`.
    pub ver: String,
    /// Epoch ms.
    pub ts: i64,
    /// `""`.
    pub res_msg_id: String,
    /// `""`.
    pub msg_id: String,
    /// `Logout successfully` / `Logout failed`.
    pub status: String,
}

/// The `Error` of E4.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutErrorBody {
    /// The HTTP status.
    pub code: u16,
    /// Always null.
    pub message: Option<String>,
    /// Why.
    pub description: String,
    /// Always null.
    pub error_fields: Option<String>,
    /// Always `{}`.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// E4, the logout error.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"ResponseInfo": {"apiId": "", "ver": "", "ts": 1767000000000_i64, "resMsgId": "",
    "msgId": "", "status": "Logout failed"}, "Error": {"code": 400, "message": null,
    "description": "Logout failed", "errorFields": null, "fields": {}}}))]
pub struct LogoutError {
    /// `status`: `Logout failed`.
    #[serde(rename = "ResponseInfo")]
    pub response_info: LogoutInfo,
    /// The error.
    #[serde(rename = "Error")]
    pub error: LogoutErrorBody,
}

/// A 400 in either shape: E1 for most refusals, E2 where a code is wrong (`OTP.VALIDATION_UNSUCCESSFUL`) —
/// or, on egov-otp's endpoints, E1 for a field over its size.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TracerOrLegacy {
    /// E1.
    Tracer(TracerError),
    /// E2.
    Legacy(LegacyError),
}
