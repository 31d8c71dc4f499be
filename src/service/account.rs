//! A user's own account, as a citizen or an employee works it, and what an admin update sets off:
//!
//! - citizen self-registration (`/user/citizen/_create`): every check of the create — the duplicate one
//!   included — before the OTP is spent; answered with tokens when registration logs the citizen in;
//! - password changes, logged in or forgotten (with an OTP): the user found, OTP-login users and a new password
//!   the policy refuses turned away before any credential is checked, the credential checked inside the user's
//!   lockout actor, the new hash stored, the user's other sessions ended;
//! - after an admin update: `accountLocked: false` ends a lock at once, a deactivated user's sessions end.
//!
//! Contract 4.4.5, 4.4.9, 4.4.10. No HTTP here: the handlers parse and render, the command line or a test may
//! call these directly.

use actors::domain::otp::Purpose;
use actors::domain::roles::RoleRequest;
use actors::domain::{UserRecord, UserType};
use actors::hasher::HasherError;

use zeroize::Zeroizing;

use super::login::{Credential, Login, LoginError};
use super::otp::{OtpError, OtpService};
use super::registry::{Caller, NewPassword, Registry, RegistryError, UserDraft};
use super::sessions::{Issued, SessionError};
use crate::config::Settings;

/// What a registration came to.
#[derive(Debug)]
pub enum Registered {
    /// The citizen, logged in (`login.register_with_login`).
    LoggedIn(Box<Issued>),
    /// The citizen, not logged in.
    User(Box<UserRecord>),
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// With OTP login a citizen's userName is their mobile number: digits only.
    #[error("the userName of a citizen is a mobile number")]
    UserNameNotValid,
    /// A field the deployment's rules make mandatory is missing.
    #[error("{0} is mandatory")]
    Missing(&'static str),
    /// The create was refused, or the store failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The OTP is wrong, used or expired.
    #[error("otp validation unsuccessful")]
    OtpInvalid,
    /// The OTP sessions are saturated.
    #[error("otp sessions are saturated")]
    Busy,
    /// The OTP check failed otherwise.
    #[error(transparent)]
    Otp(OtpError),
    /// The citizen was created but could not be logged in.
    #[error("login after registration failed: {0}")]
    Login(#[source] SessionError),
}

/// The user a password change is for, and what proves them.
pub struct PasswordChange<'a> {
    /// `tenantId` as the request names it.
    pub tenant: &'a str,
    /// `type` as the request names it.
    pub user_type: &'a str,
    /// `userName`.
    pub user_name: &'a str,
    /// The verified session of the request (user uuid, family), which the change keeps; the user must be its.
    pub session: Option<(&'a str, &'a str)>,
    /// The existing password, or an OTP of purpose `passwordreset`.
    pub credential: Credential,
    /// The new password.
    pub new: Zeroizing<String>,
    /// The client's address, when known.
    pub source: Option<std::net::IpAddr>,
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// No such user (or not the session's).
    #[error("user not found")]
    NotFound,
    /// The user logs in with an OTP: there is no password to change.
    #[error("otp-login users have no password")]
    OtpLoginUser,
    /// The new password breaks the policy.
    #[error(transparent)]
    Policy(RegistryError),
    /// The existing password or the OTP is wrong.
    #[error("wrong credential")]
    WrongCredential,
    /// The account is locked.
    #[error("account locked")]
    Locked,
    /// The hasher or the lockout actors are saturated.
    #[error("saturated")]
    Busy,
    /// Something else failed.
    #[error(transparent)]
    Failed(LoginError),
    /// The new password could not be stored.
    #[error("new password not stored: {0}")]
    NotStored(#[source] RegistryError),
}

impl PasswordChangeError {
    /// A store of the new password that failed: saturation is retried by the client, the rest is ours.
    fn not_stored(e: RegistryError) -> Self {
        match e {
            RegistryError::Hasher(HasherError::Busy | HasherError::Timeout) => Self::Busy,
            RegistryError::Store(e) if e.is_retryable() => Self::Busy,
            RegistryError::NotFound(_) => Self::NotFound,
            other => Self::NotStored(other),
        }
    }
}

impl From<LoginError> for PasswordChangeError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::BadCredentials => Self::WrongCredential,
            LoginError::Locked => Self::Locked,
            LoginError::Busy => Self::Busy,
            other => Self::Failed(other),
        }
    }
}

/// The account use cases over the registry, the OTP flows and the logins.
#[derive(Clone)]
pub struct Accounts {
    registry: Registry,
    otp: OtpService,
    login: Login,
    settings: std::sync::Arc<Settings>,
}

impl Accounts {
    /// The use cases over running services.
    pub fn new(
        registry: Registry,
        otp: OtpService,
        login: Login,
        settings: std::sync::Arc<Settings>,
    ) -> Self {
        Self {
            registry,
            otp,
            login,
            settings,
        }
    }

    /// `/user/citizen/_create`: the citizen's draft (with the OTP in `otp_reference`) as the request gave it.
    pub async fn register_citizen(
        &self,
        mut draft: UserDraft,
        caller: &Caller,
        source: Option<std::net::IpAddr>,
    ) -> Result<Registered, RegistrationError> {
        let rules = &self.settings.login;
        if rules.citizen_otp_login {
            let user_name = draft.user_name.as_deref().unwrap_or_default();
            if user_name.is_empty() || !user_name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(RegistrationError::UserNameNotValid);
            }
            draft.fields.mobile_number = Some(user_name.to_owned());
        } else if draft.password.is_none() {
            return Err(RegistrationError::Missing("password"));
        }
        draft.fields.user_type = Some(UserType::Citizen);
        draft.roles = Some(vec![RoleRequest {
            code: "CITIZEN".into(),
            tenant_id: None,
        }]);
        draft.tenant_id = draft.tenant_id.as_ref().map(|t| t.state());
        if rules.register_with_login {
            draft.fields.active = Some(true);
        }
        let otp = draft.otp_reference.take().map(Zeroizing::new);
        if rules.register_otp_mandatory && otp.is_none() {
            return Err(RegistrationError::Missing("otpReference"));
        }
        let code = otp.as_deref().map(String::as_str).unwrap_or_default();
        let claimed = (draft.fields.mobile_number.clone(), draft.tenant_id.clone());
        // every check of the create, the duplicate one included, before the OTP is spent
        let mut record = match self.registry.prepare_create(draft, caller).await {
            // uniform answers: only the holder of the number's code learns that it is registered
            Err(RegistryError::Duplicate)
                if self.settings.security.uniform_answers && rules.register_otp_mandatory =>
            {
                if let (Some(mobile), Some(tenant)) = claimed {
                    self.register_code(&mobile, tenant.as_str(), code, source)
                        .await?;
                }
                return Err(RegistryError::Duplicate.into());
            }
            prepared => prepared?,
        };
        // a citizen registering chose their own password, if any
        record.default_pwd_changed = true;
        if rules.register_otp_mandatory {
            let mobile = record.mobile_number.as_deref().unwrap_or_default();
            self.register_code(mobile, record.tenant_id.as_str(), code, source)
                .await?;
        }
        let created = self.registry.insert(record).await?;
        if !rules.register_with_login {
            return Ok(Registered::User(Box::new(created)));
        }
        let issued = self
            .login
            .sessions()
            .open(
                &created,
                "read",
                &crate::service::sessions::Client::new(source, None),
            )
            .await
            .map_err(RegistrationError::Login)?;
        Ok(Registered::LoggedIn(Box::new(issued)))
    }

    /// Checks (and spends) the registration code of `mobile`.
    async fn register_code(
        &self,
        mobile: &str,
        tenant: &str,
        code: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<(), RegistrationError> {
        match self
            .otp
            .check(mobile, tenant, code, Purpose::Register, source)
            .await
        {
            Ok(()) => Ok(()),
            Err(OtpError::ValidationFailed | OtpError::UnknownTenant) => {
                Err(RegistrationError::OtpInvalid)
            }
            Err(OtpError::Route(_)) => Err(RegistrationError::Busy),
            Err(e) => Err(RegistrationError::Otp(e)),
        }
    }

    fn check_policy(&self, new: &str) -> Result<(), PasswordChangeError> {
        let violations = self.settings.password_policy().check(new);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PasswordChangeError::Policy(RegistryError::Password(
                violations,
            )))
        }
    }

    /// A password change, logged in or forgotten.
    pub async fn change_password(&self, c: PasswordChange<'_>) -> Result<(), PasswordChangeError> {
        // with uniform answers the policy speaks first: its verdict must not depend on the user existing
        let uniform = self.settings.security.uniform_answers;
        if uniform {
            self.check_policy(&c.new)?;
        }
        let user_type = UserType::parse(c.user_type).ok_or(PasswordChangeError::NotFound)?;
        let user = self
            .login
            .find(c.tenant, user_type, c.user_name)
            .map_err(|e| match PasswordChangeError::from(e) {
                PasswordChangeError::WrongCredential => PasswordChangeError::NotFound,
                other => other,
            })?
            .filter(|u| c.session.is_none_or(|(uuid, _)| uuid == u.uuid))
            .ok_or(PasswordChangeError::NotFound)?;
        if self.login.rules().otp_login(user.user_type) {
            return Err(PasswordChangeError::OtpLoginUser);
        }
        if !uniform {
            self.check_policy(&c.new)?;
        }
        // a signed-in change (or one with the old password): counted toward the account as in DIGIT
        let reset = matches!(c.credential, Credential::Otp(..));
        self.login.check(&user, c.credential, c.source).await?;
        self.registry
            .store_password(
                &user.uuid,
                Some(&user.uuid),
                c.new,
                NewPassword::ChosenByUser,
            )
            .await
            .map_err(PasswordChangeError::not_stored)?;
        self.registry.audit().record(
            &user.uuid,
            None,
            actors::domain::audit::AuditKind::PasswordChanged { reset },
        );
        // the change stands; ending the other sessions is logged when it fails, not answered
        let keep = c.session.map(|(_, family)| family);
        if let Err(e) = self
            .login
            .sessions()
            .revoke_user(&user.uuid, keep, "password_change")
            .await
        {
            tracing::error!(error = %e, "sessions could not be revoked after a password change");
        }
        Ok(())
    }

    /// `/user/profile/_update`. With `user.profile_update_recheck`, a change of the user's e-mail address
    /// needs the current password (`user.password`) or an OTP of purpose login (`user.otpReference`),
    /// checked as a login is (the lockout counts it). The profile update never changes the mobile number.
    pub async fn profile_update(
        &self,
        mut draft: UserDraft,
        caller: &Caller,
        source: Option<std::net::IpAddr>,
    ) -> Result<UserRecord, RegistryError> {
        if self.settings.user.profile_update_recheck
            && let Some(uuid) = draft.uuid.as_deref()
            && caller.uuid.as_deref() == Some(uuid)
            && let Some(stored) = self.registry.store().users().get_by_uuid(uuid)?
            && draft.fields.email_id.as_deref().is_some_and(|new| {
                !stored
                    .email_id
                    .as_deref()
                    .is_some_and(|old| old.eq_ignore_ascii_case(new))
            })
        {
            let credential = match (draft.password.take(), draft.otp_reference.take()) {
                (Some(password), _) => Credential::Password(password),
                (None, Some(otp)) => Credential::Otp(Zeroizing::new(otp), Purpose::Login),
                (None, None) => {
                    return Err(RegistryError::ProfileDenied(
                        "a change of the e-mail address needs the current password or an OTP",
                    ));
                }
            };
            self.login
                .check(&stored, credential, source)
                .await
                .map_err(|e| match e {
                    LoginError::Busy => RegistryError::Hasher(HasherError::Busy),
                    LoginError::Internal(cause) => {
                        tracing::error!(error = %cause, "profile re-check failed internally");
                        RegistryError::Hasher(HasherError::Stopped)
                    }
                    _ => {
                        RegistryError::ProfileDenied("the current password or the OTP is not right")
                    }
                })?;
        }
        self.registry.profile_update(draft, caller).await
    }

    /// What an admin update means beyond the record: `accountLocked: false` ends a lock at once (the lockout
    /// actor's count too), and a deactivated user's sessions end. The update already stands; failures are
    /// logged. `admin`: the caller's uuid, for the audit trail.
    pub async fn after_admin_update(
        &self,
        updated: &UserRecord,
        unlock: bool,
        admin: Option<&str>,
    ) {
        if unlock {
            match self.login.lockouts().unlock(&updated.uuid).await {
                Ok(true) => {
                    tracing::info!(uuid = %updated.uuid, "account unlocked by an admin update");
                    self.registry.audit().record(
                        &updated.uuid,
                        admin,
                        actors::domain::audit::AuditKind::Unlocked {
                            reason: "admin".into(),
                        },
                    );
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "admin unlock could not reach the lockout actor")
                }
            }
        }
        if !updated.active
            && let Err(e) = self
                .login
                .sessions()
                .revoke_user(&updated.uuid, None, "deactivated")
                .await
        {
            tracing::error!(error = %e, "sessions of a deactivated user could not be revoked");
        }
    }
}
