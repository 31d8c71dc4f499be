//! What the login trees hold: refresh families and their tokens, and what a refresh or a revocation comes to.

use serde::{Deserialize, Serialize};

/// A refresh family: one login and every token rotated from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// The user's uuid.
    pub user: String,
    /// The user type the session was opened for.
    pub user_type: String,
    /// The `scope` granted at login.
    pub scope: String,
    /// End of the family (the refresh validity from login), epoch ms.
    pub expires_ms: i64,
    /// The family's current access token id.
    pub access_jti: String,
    /// Its expiry, epoch ms.
    pub access_expires_ms: i64,
    /// Revoked (logout, reuse, lock, password change).
    pub revoked: bool,
    /// The login that opened it; absent in families an earlier build opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<Seen>,
    /// Its last refresh, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<Seen>,
}

/// A moment a session was used, and by which client (what an operator is shown of a session; sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// When, epoch ms.
    pub at: i64,
    /// The client's address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its `User-Agent`, when given (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// A refresh token as stored (under its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshEntry {
    /// Its family.
    pub family: [u8; 16],
    /// When it was used for a refresh, epoch ms.
    pub spent_ms: Option<i64>,
    /// What that refresh issued, sealed by the caller (base64): answered again to a use within the grace
    /// window. Entries spent before this was kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live: the new token and access token are stored, the access token it replaces
    /// revoked in the same change. Carries the family as it was before (the caller tells the revocation
    /// set and the other pods).
    Rotated {
        /// The family before the refresh.
        previous: Family,
    },
    /// The token was spent within the grace window: what its refresh issued then (the sealed successor as
    /// the caller gave it), and nothing changed.
    Repeated(Vec<u8>),
    /// No such token.
    Unknown,
    /// The family is revoked or over.
    Dead,
    /// A token spent longer ago than the grace window: the family is now revoked.
    Reused(Family),
}

/// A revocation loaded at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// A whole family, until that moment.
    Family([u8; 16], i64),
    /// One access token, until that moment.
    Access([u8; 16], i64),
}
