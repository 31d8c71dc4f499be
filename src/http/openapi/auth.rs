//! The wire shapes of logins, tokens, passwords and OTPs as the description names them (see
//! [`super::schemas`] for why they are types of their own).

use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::{RequestInfo, StringOrNumber};

/// The token endpoint's parameters, in the query string or an `application/x-www-form-urlencoded` body
/// (the query wins; names as written). HTTP Basic client authentication is required
/// (`egov-user-client` with an empty secret by default).
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)]
#[schema(example = json!({"grant_type": "password", "username": "EMP-EXAMPLE-1", "password": "Example@123",
                          "tenantId": "pb.amritsar", "userType": "EMPLOYEE", "scope": "read"}))]
pub struct TokenForm {
    /// `password` or `refresh_token`.
    pub grant_type: String,
    /// password grant: the userName (a citizen's mobile number).
    pub username: Option<String>,
    /// password grant: the password, or the login OTP.
    pub password: Option<String>,
    /// password grant: the tenant.
    pub tenantId: Option<String>,
    /// password grant: CITIZEN, EMPLOYEE, SYSTEM or BUSINESS.
    pub userType: Option<String>,
    /// `read`, `write` or both (default both).
    pub scope: Option<String>,
    /// refresh grant: the refresh token.
    pub refresh_token: Option<String>,
}

/// The token answer's `ResponseInfo` (snake_case keys, all strings).
#[derive(Serialize, ToSchema)]
pub struct TokenResponseInfo {
    /// `""`.
    pub api_id: String,
    /// `""`.
    pub ver: String,
    /// `""`.
    pub ts: String,
    /// `""`.
    pub res_msg_id: String,
    /// `""`.
    pub msg_id: String,
    /// `Access Token generated successfully`.
    pub status: String,
}

/// A role as a token answer and `/user/_details` show it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRole {
    /// Name.
    pub name: String,
    /// Code.
    pub code: String,
    /// Tenant.
    pub tenant_id: String,
}

/// The user a token answer carries.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUser {
    /// Id.
    pub id: i64,
    /// Uuid.
    pub uuid: String,
    /// userName.
    pub user_name: String,
    /// Name.
    pub name: Option<String>,
    /// Mobile number.
    pub mobile_number: Option<String>,
    /// E-mail.
    pub email_id: Option<String>,
    /// Locale.
    pub locale: Option<String>,
    /// User type.
    #[serde(rename = "type")]
    pub user_type: String,
    /// Roles.
    pub roles: Vec<TokenRole>,
    /// Active.
    pub active: bool,
    /// Tenant.
    pub tenant_id: String,
    /// Permanent city.
    pub permanent_city: Option<String>,
}

/// The tokens of a login, a refresh or a registration (headers `Cache-Control: no-store`).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJ0eXAiOiJKV1Qi…", "token_type": "bearer",
    "refresh_token": "AAVrW2b…", "expires_in": 604799, "scope": "read",
    "ResponseInfo": {"api_id": "", "ver": "", "ts": "", "res_msg_id": "", "msg_id": "",
                     "status": "Access Token generated successfully"},
    "UserRequest": {"id": 65536, "uuid": "5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f70", "userName": "EMP-EXAMPLE-1",
                    "name": "Asha Devi", "mobileNumber": "9876543210", "emailId": null, "locale": null,
                    "type": "EMPLOYEE", "roles": [{"name": "Employee", "code": "EMPLOYEE", "tenantId": "pb.amritsar"}],
                    "active": true, "tenantId": "pb.amritsar", "permanentCity": null}}))]
pub struct TokenResponse {
    /// The access token (a JWT; its claims hold no personal data in clear).
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// Status.
    #[serde(rename = "ResponseInfo")]
    pub response_info: TokenResponseInfo,
    /// The user.
    #[serde(rename = "UserRequest")]
    pub user_request: TokenUser,
}

/// `/user/_details`: the user of an access token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    /// Id.
    pub id: i64,
    /// userName.
    pub user_name: String,
    /// Name.
    pub name: Option<String>,
    /// Mobile number.
    pub mobile_number: Option<String>,
    /// E-mail.
    pub email_id: Option<String>,
    /// Locale.
    pub locale: Option<String>,
    /// User type.
    #[serde(rename = "type")]
    pub user_type: String,
    /// Roles.
    pub roles: Vec<TokenRole>,
    /// Active.
    pub active: bool,
    /// Always null.
    pub actions: Option<String>,
    /// Tenant.
    pub tenant_id: String,
    /// Uuid.
    pub uuid: String,
}

/// `access_token` in the query string or a form body.
#[derive(Serialize, ToSchema)]
pub struct AccessTokenForm {
    /// The access token.
    pub access_token: String,
}

/// `/user/_logout`: `{"access_token"}` (other keys ignored).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJ0eXAiOiJKV1Qi…"}))]
pub struct LogoutRequest {
    /// The access token to end, with its session.
    pub access_token: String,
}

/// A password change by the user (logged in: `RequestInfo.authToken`, else `RequestInfo.userInfo.userName`)
/// or a reset with an OTP (`otpReference`, `userName`). All strings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"otpReference": "123456", "userName": "9876543210", "newPassword": "Example@456",
                          "tenantId": "pb", "type": "CITIZEN"}))]
pub struct PasswordRequest {
    /// The caller (`authToken` or `userInfo.userName`: the logged-in change).
    #[serde(rename = "RequestInfo")]
    pub request_info: Option<RequestInfo>,
    /// Logged-in change: the current password.
    pub existing_password: Option<String>,
    /// The new password (the password policy).
    pub new_password: String,
    /// Reset: the OTP of purpose passwordreset.
    pub otp_reference: Option<String>,
    /// Reset: the userName.
    pub user_name: Option<String>,
    /// The tenant.
    pub tenant_id: String,
    /// CITIZEN, EMPLOYEE, …
    #[serde(rename = "type")]
    pub user_type: String,
}

/// What `/user-otp/v1/_send` reads of `otp`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpSendIn {
    /// The number (required).
    pub mobile_number: StringOrNumber,
    /// The tenant (required).
    pub tenant_id: String,
    /// `register` (default), `login` or `passwordreset`, any case.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `citizen` or `employee`.
    pub user_type: Option<String>,
    /// One of the state's country codes.
    pub country_code: Option<String>,
    /// The message's locale (`RequestInfo.msgId` wins).
    pub locale: Option<String>,
}

/// `{"RequestInfo", "otp"}` of `_send`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"RequestInfo": {"msgId": "20170310130900|en_IN"},
    "otp": {"mobileNumber": "9876543210", "tenantId": "pb", "type": "register", "userType": "citizen"}}))]
pub struct OtpSendRequest {
    /// The caller.
    #[serde(rename = "RequestInfo")]
    pub request_info: Option<RequestInfo>,
    /// The send.
    pub otp: OtpSendIn,
}

/// A send taken (or, with `security.uniform_answers`, refused unseen).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpSent {
    /// Always null.
    pub response_info: Option<String>,
    /// `true`.
    pub is_successful: bool,
}

/// What egov-otp's endpoints read of `otp`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpIn {
    /// `_validate`: the code.
    pub otp: Option<StringOrNumber>,
    /// `_create`, `_validate`: the number or identity (at most 100 characters).
    pub identity: Option<StringOrNumber>,
    /// `_create`, `_validate`: the tenant.
    pub tenant_id: Option<String>,
    /// `_search`: the token id.
    #[serde(rename = "UUID")]
    pub uuid: Option<String>,
}

/// `{"RequestInfo", "otp"}` of egov-otp's endpoints.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"RequestInfo": {}, "otp": {"otp": "123456", "identity": "9876543210", "tenantId": "pb"}}))]
pub struct OtpRequest {
    /// The caller.
    #[serde(rename = "RequestInfo")]
    pub request_info: Option<RequestInfo>,
    /// The code, identity, tenant or token id.
    pub otp: OtpIn,
}

/// An egov-otp token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpToken {
    /// `_create`: the code; `_validate`: the code given; `_search`: null.
    pub otp: Option<String>,
    /// The token id.
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// The identity.
    pub identity: String,
    /// The state tenant.
    pub tenant_id: String,
    /// Validated (and spent).
    pub is_validation_successful: bool,
}

/// `{"responseInfo": null, "otp": ...}` (`_search` of an unknown token: `otp` null).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtpTokenResponse {
    /// Always null.
    pub response_info: Option<String>,
    /// The token.
    pub otp: Option<OtpToken>,
}
