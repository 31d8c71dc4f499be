//! What the audit trail records of a user: who did what, when, from where — never a value of the user's
//! personal data, a password, a code or a token. Refusals that name no existing user are metrics, not events.

use serde::{Deserialize, Serialize};

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// When, epoch ms.
    pub at: i64,
    /// The uuid of whoever did it, when known and not the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: AuditKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditKind {
    /// The user was created, with these fields set (names only).
    UserCreated {
        /// The fields' wire names.
        fields: Vec<String>,
    },
    /// The user was updated: the fields the update set (names only).
    UserUpdated {
        /// The fields' wire names.
        fields: Vec<String>,
    },
    /// The password was changed (`reset`: by an OTP, not the old password).
    PasswordChanged {
        /// By a reset.
        reset: bool,
    },
    /// A login succeeded.
    LoginSucceeded(Attempt),
    /// A login failed (wrong credential, or refused: locked, blocked).
    LoginFailed(Attempt),
    /// The account was locked.
    Locked,
    /// The account was unlocked (`reason`: `cooldown` or `admin`).
    Unlocked {
        /// Why.
        reason: String,
    },
    /// A code went to the user's number (`result`: `sent`, or `held`: a resend of a live code, no SMS).
    OtpSent {
        /// `login` or `passwordreset`.
        purpose: String,
        /// `sent` or `held`.
        result: String,
    },
    /// A code the user gave was checked (a login, a password reset).
    OtpValidated {
        /// The purpose.
        purpose: String,
        /// Whether it was right.
        valid: bool,
    },
    /// Sessions of the user were ended (`reason`: logout, lockout, password_change, deactivated, reuse — a
    /// spent refresh token presented again).
    TokenRevoked {
        /// Why.
        reason: String,
        /// How many sessions (refresh families) and single access tokens.
        tokens: usize,
    },
    /// Masked fields of the user were shown in clear to `actor` on a plain-access request.
    PlainAccess {
        /// The fields' wire names.
        fields: Vec<String>,
    },
}

/// A login attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// `password` (with a password or an OTP as it) or `refresh_token`.
    pub grant: String,
    /// The client's address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its `User-Agent`, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl AuditKind {
    /// The kind's name (the `kind` filter of the audit API).
    pub fn name(&self) -> &'static str {
        match self {
            Self::UserCreated { .. } => "user_created",
            Self::UserUpdated { .. } => "user_updated",
            Self::PasswordChanged { .. } => "password_changed",
            Self::LoginSucceeded(_) => "login_succeeded",
            Self::LoginFailed(_) => "login_failed",
            Self::Locked => "locked",
            Self::Unlocked { .. } => "unlocked",
            Self::OtpSent { .. } => "otp_sent",
            Self::OtpValidated { .. } => "otp_validated",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::PlainAccess { .. } => "plain_access",
        }
    }
}
