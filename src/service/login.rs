//! Logins and the credential checks behind them (contract 4.4.1, 4.5.3–4.5.5, done right).
//!
//! Every credential check of a known user — password, OTP as password, the existing password of a change,
//! the OTP of a reset — runs inside the user's lockout actor, so failures count wherever they happen and
//! parallel attempts cannot exceed the limit. Unknown users are checked against a dummy hash so the time
//! taken does not tell whether a user exists; inactive users learn it only after a right credential.

use actors::domain::audit::{Attempt, AuditKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actors::domain::otp::Purpose;
use actors::domain::{TenantId, UserRecord, UserType};
use actors::hasher::{HasherError, HasherPool, Verdict};
use actors::lockout::{Check, LockoutError, Lockouts, Outcome};
use actors::metrics as m;
use actors::store::{Store, StoreError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::service::otp::{OtpError, OtpService};
use crate::service::registry::{NewPassword, Registry};
use crate::service::sessions::{Client, Issued, SessionError, Sessions};

/// How users log in (`[login]` and the fixed-OTP switch).
#[derive(Debug, Clone)]
pub struct LoginRules {
    /// Citizens log in with an OTP.
    pub citizen_otp_login: bool,
    /// Non-citizens log in with an OTP.
    pub employee_otp_login: bool,
    /// DIGIT's fixed citizen OTP, when switched on.
    pub fixed_otp: Option<Zeroizing<String>>,
}

impl LoginRules {
    /// Whether users of `user_type` log in with an OTP.
    pub fn otp_login(&self, user_type: UserType) -> bool {
        if user_type == UserType::Citizen {
            self.citizen_otp_login
        } else {
            self.employee_otp_login
        }
    }
}

/// A password-grant request after parsing.
pub struct PasswordGrant {
    /// `username`
    pub user_name: String,
    /// `password` (or the OTP)
    pub password: Zeroizing<String>,
    /// `tenantId`
    pub tenant: String,
    /// `userType`
    pub user_type: UserType,
    /// `scope`
    pub scope: String,
    /// The client's address, when known (failures from an address the user never logged in from are
    /// throttled per address).
    pub source: Option<std::net::IpAddr>,
    /// The client's `User-Agent` (for the audit trail), at most 200 characters.
    pub user_agent: Option<String>,
}

/// Why a login or a credential check failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong credential.
    #[error("invalid login credentials")]
    BadCredentials,
    /// The account is locked (now or already).
    #[error("account locked")]
    Locked,
    /// Right credential, inactive account.
    #[error("account inactive")]
    Inactive,
    /// The refresh token is unknown, revoked or was reused.
    #[error("invalid refresh token")]
    InvalidRefresh,
    /// The refresh token's family is over.
    #[error("expired refresh token")]
    ExpiredRefresh,
    /// Saturated (hasher, lockout actors, OTP sessions, commit queue): retry.
    #[error("busy")]
    Busy,
    /// Anything else; logged with its cause, not shown.
    #[error("internal: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl LoginError {
    fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(cause))
    }
}

impl From<SessionError> for LoginError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Invalid | SessionError::Reused => Self::InvalidRefresh,
            SessionError::Expired => Self::ExpiredRefresh,
            SessionError::Locked => Self::Locked,
            SessionError::Inactive => Self::Inactive,
            SessionError::Store(e) => e.into(),
            SessionError::Mint => Self::internal(e),
        }
    }
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        match e {
            e if e.is_retryable() => Self::Busy,
            other => Self::internal(other),
        }
    }
}

impl From<LockoutError> for LoginError {
    fn from(e: LockoutError) -> Self {
        match e {
            LockoutError::Unreachable(_) => Self::Busy,
            LockoutError::Store(e) => e.into(),
        }
    }
}

/// A credential check that could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum Undecided {
    /// The hasher is saturated or stopping.
    #[error(transparent)]
    Hasher(HasherError),
    /// The OTP service failed.
    #[error(transparent)]
    Otp(OtpError),
}

impl From<Undecided> for LoginError {
    fn from(e: Undecided) -> Self {
        match e {
            Undecided::Hasher(HasherError::Busy | HasherError::Timeout) => Self::Busy,
            Undecided::Otp(OtpError::Route(_)) => Self::Busy,
            // a code spent while its partition moved (the write fenced) or the journal away: retryable
            Undecided::Otp(OtpError::Store(e)) => e.into(),
            other => Self::internal(other),
        }
    }
}

/// The credential a check compares.
#[derive(Clone)]
pub enum Credential {
    /// A password against the stored hash.
    Password(Zeroizing<String>),
    /// An OTP of `purpose` for the user's stored mobile number.
    Otp(Zeroizing<String>, Purpose),
}

/// The login service.
#[derive(Clone)]
pub struct Login {
    store: Arc<Store>,
    registry: Registry,
    hasher: HasherPool,
    otp: OtpService,
    lockouts: Lockouts,
    sessions: Arc<Sessions>,
    rules: Arc<LoginRules>,
}

impl Login {
    /// The service.
    pub fn new(
        store: Arc<Store>,
        registry: Registry,
        hasher: HasherPool,
        otp: OtpService,
        lockouts: Lockouts,
        sessions: Arc<Sessions>,
        rules: LoginRules,
    ) -> Self {
        Self {
            store,
            registry,
            hasher,
            otp,
            lockouts,
            sessions,
            rules: Arc::new(rules),
        }
    }

    /// The session service.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The sessions, shared (a reader that feeds them revocations outlives no one).
    pub fn shared_sessions(&self) -> Arc<Sessions> {
        self.sessions.clone()
    }

    /// The lockout directory.
    pub fn lockouts(&self) -> &Lockouts {
        &self.lockouts
    }

    /// The login rules.
    pub fn rules(&self) -> &LoginRules {
        &self.rules
    }

    /// `grant_type=password`.
    pub async fn password_grant(&self, grant: PasswordGrant) -> Result<Issued, LoginError> {
        let result = self.password_grant_inner(&grant).await;
        record_login("password", grant.user_type.as_str(), &result);
        result
    }

    async fn password_grant_inner(&self, grant: &PasswordGrant) -> Result<Issued, LoginError> {
        let otp_login = self.rules.otp_login(grant.user_type);
        let Some(user) = self.find(&grant.tenant, grant.user_type, &grant.user_name)? else {
            if !otp_login {
                // the same argon2 work as for a real user, so the time does not reveal who exists
                let _ = self.hasher.verify(grant.password.clone(), None).await;
            }
            return Err(LoginError::BadCredentials);
        };
        let credential = if otp_login {
            Credential::Otp(grant.password.clone(), Purpose::Login)
        } else {
            Credential::Password(grant.password.clone())
        };
        let attempt = || Attempt {
            grant: "password".into(),
            source: grant.source.map(|ip| ip.to_string()),
            user_agent: grant.user_agent.clone(),
        };
        let audit = self.registry.audit();
        if let Err(e) = self.check(&user, credential, grant.source).await {
            if matches!(e, LoginError::BadCredentials | LoginError::Locked) {
                audit.record(&user.uuid, None, AuditKind::LoginFailed(attempt()));
            }
            return Err(e);
        }
        if !user.active {
            return Err(LoginError::Inactive);
        }
        let client = Client::new(grant.source, grant.user_agent.as_deref());
        let issued = self.sessions.open(&user, &grant.scope, &client).await?;
        audit.record(&user.uuid, None, AuditKind::LoginSucceeded(attempt()));
        Ok(issued)
    }

    /// `grant_type=refresh_token`, from `client`.
    pub async fn refresh_grant(
        &self,
        refresh_token: &str,
        client: &Client,
    ) -> Result<Issued, LoginError> {
        let result = self
            .sessions
            .refresh(refresh_token, client)
            .await
            .map_err(LoginError::from);
        let user_type = result
            .as_ref()
            .map_or("unknown", |i| i.snapshot.user_type.as_str());
        record_login("refresh_token", user_type, &result);
        result
    }

    /// The user a login names: citizens at the state tenant; others at the tenant given, or — when that is a
    /// state and no record sits there — the one user of that type and name in the state's cities (mGramSeva).
    pub fn find(
        &self,
        tenant: &str,
        user_type: UserType,
        user_name: &str,
    ) -> Result<Option<UserRecord>, LoginError> {
        let Ok(tenant) = TenantId::parse(tenant.trim()) else {
            return Ok(None);
        };
        let users = self.store.users();
        if user_type == UserType::Citizen {
            return Ok(users.get_unique(&tenant.state(), user_type, user_name)?);
        }
        if let Some(user) = users.get_unique(&tenant, user_type, user_name)? {
            return Ok(Some(user));
        }
        if tenant.as_str().contains('.') {
            return Ok(None);
        }
        let mut in_state = users
            .with_user_name(user_name)?
            .into_iter()
            .filter(|u| u.user_type == user_type && u.tenant_id.state() == tenant);
        match (in_state.next(), in_state.next()) {
            (Some(one), None) => Ok(Some(one)),
            _ => Ok(None),
        }
    }

    /// Checks `credential` for `user` inside the user's lockout actor, from `source` (the client's address,
    /// when known). A lock reached now revokes the user's sessions. A matching imported bcrypt hash is
    /// replaced by an argon2id one.
    pub async fn check(
        &self,
        user: &UserRecord,
        credential: Credential,
        source: Option<std::net::IpAddr>,
    ) -> Result<(), LoginError> {
        let rehash = Arc::new(AtomicBool::new(false));
        let password = match &credential {
            Credential::Password(p) => Some(p.clone()),
            Credential::Otp(..) => None,
        };
        let make = {
            let (svc, user, rehash) = (self.clone(), user.clone(), rehash.clone());
            move || -> Check<Undecided> {
                let (svc, user, credential, rehash) = (
                    svc.clone(),
                    user.clone(),
                    credential.clone(),
                    rehash.clone(),
                );
                Box::pin(async move { svc.evaluate(&user, credential, source, &rehash).await })
            }
        };
        let record_lock = user
            .account_locked
            .then(|| user.account_locked_date.unwrap_or(user.last_modified_date));
        match self
            .lockouts
            .attempt(&user.uuid, record_lock, source, make)
            .await?
        {
            Outcome::Passed => {
                if rehash.load(Ordering::SeqCst)
                    && let Some(password) = password
                {
                    // an imported bcrypt hash matched: store argon2id instead; failing only means next time
                    match self
                        .registry
                        .store_password(&user.uuid, None, password, NewPassword::Rehash)
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(uuid = %user.uuid, "imported password hash upgraded to argon2id")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "password hash upgrade failed; retried at the next login")
                        }
                    }
                }
                Ok(())
            }
            Outcome::Failed { .. } => Err(LoginError::BadCredentials),
            Outcome::LockedNow { .. } => {
                self.registry
                    .audit()
                    .record(&user.uuid, None, AuditKind::Locked);
                self.sessions
                    .revoke_user(&user.uuid, None, "lockout")
                    .await?;
                Err(LoginError::Locked)
            }
            // to the address blocked for this user it reads as a lock; the user elsewhere is not affected
            Outcome::Locked { .. } | Outcome::SourceBlocked { .. } => Err(LoginError::Locked),
            Outcome::Undecided(e) => Err(e.into()),
        }
    }

    async fn evaluate(
        &self,
        user: &UserRecord,
        credential: Credential,
        source: Option<std::net::IpAddr>,
        rehash: &AtomicBool,
    ) -> Result<bool, Undecided> {
        match credential {
            Credential::Otp(code, purpose) => {
                if purpose == Purpose::Login
                    && user.user_type == UserType::Citizen
                    && let Some(fixed) = &self.rules.fixed_otp
                    && bool::from(fixed.as_bytes().ct_eq(code.as_bytes()))
                {
                    tracing::warn!(uuid = %user.uuid, "citizen login with the fixed otp");
                    return Ok(true);
                }
                let Some(mobile) = user.mobile_number.as_deref() else {
                    return Ok(false);
                };
                let state = user.tenant_id.state();
                let checked = self
                    .otp
                    .check(mobile, state.as_str(), &code, purpose, source)
                    .await;
                if let Ok(()) | Err(OtpError::ValidationFailed) = &checked {
                    self.registry.audit().record(
                        &user.uuid,
                        None,
                        AuditKind::OtpValidated {
                            purpose: purpose.as_str().to_owned(),
                            valid: checked.is_ok(),
                        },
                    );
                }
                match checked {
                    Ok(_) => Ok(true),
                    // a user of a state no longer served has no code that could be valid
                    Err(OtpError::ValidationFailed | OtpError::UnknownTenant) => Ok(false),
                    Err(e) => Err(Undecided::Otp(e)),
                }
            }
            Credential::Password(password) => {
                let stored = user.password_hash.clone();
                match self
                    .hasher
                    .verify(password, stored)
                    .await
                    .map_err(Undecided::Hasher)?
                {
                    Verdict::Mismatch => Ok(false),
                    Verdict::Match => Ok(true),
                    Verdict::MatchNeedsRehash => {
                        rehash.store(true, Ordering::SeqCst);
                        Ok(true)
                    }
                }
            }
        }
    }
}

fn record_login<T>(grant: &'static str, user_type: &str, result: &Result<T, LoginError>) {
    let outcome = match result {
        Ok(_) => "success",
        Err(
            LoginError::BadCredentials | LoginError::InvalidRefresh | LoginError::ExpiredRefresh,
        ) => "invalid",
        Err(LoginError::Locked) => "locked",
        Err(LoginError::Inactive) => "inactive",
        Err(LoginError::Busy | LoginError::Internal(_)) => "error",
    };
    let user_type = match user_type {
        "CITIZEN" => "citizen",
        "EMPLOYEE" => "employee",
        "SYSTEM" => "system",
        "BUSINESS" => "business",
        _ => "unknown",
    };
    metrics::counter!(m::LOGINS, "grant" => grant, "user_type" => user_type, "result" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::store::JournalError;

    #[test]
    fn a_code_whose_write_was_fenced_or_not_journaled_is_retryable_not_internal() {
        for journal in [
            JournalError::Fenced(5),
            JournalError::Unavailable("down".into()),
        ] {
            let undecided = Undecided::Otp(OtpError::Store(StoreError::Journal(journal)));
            assert!(matches!(LoginError::from(undecided), LoginError::Busy));
        }
        let corrupt = Undecided::Otp(OtpError::Store(StoreError::Corrupt("x".into())));
        assert!(matches!(LoginError::from(corrupt), LoginError::Internal(_)));
    }
}
