//! One-time passwords: purposes, how a code is derived and checked, and the state one mobile number's
//! session keeps — live codes per purpose and the send history that the limits are counted on.
//!
//! Invariants:
//! - A code is never stored. A live code keeps a random nonce (OS CSPRNG) and an HMAC of the code; the code
//!   is derived from the nonce under a key derived from the server's OTP pepper, so a resend while the code
//!   lives re-sends the same code, and the data dir holds nothing a reader could turn into a code without
//!   the pepper.
//! - At most one live code per purpose. A wrong try costs every candidate code one try; at zero it is dead.
//!   Each client address has its own smaller share of tries and of the number's SMS ([`SourceLedger`]).
//! - A resend of a live code sends it again or, past its SMS budget or a per-number limit, sends nothing and
//!   still succeeds: only a request that needs a new code can be refused. The caps count SMS sent.
//! - Everything here is pure: time comes in as `now` (epoch ms), randomness as a [`FreshCode`].

mod code;
mod live;
mod sources;
mod state;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use code::{FreshCode, LiveCode, OtpKeys};
pub use live::LiveCodes;
pub use sources::SourceLedger;
pub use state::{Hold, Invalid, OtpSessionState, Send, Sending, Throttle};

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Citizen self-registration (`/user/citizen/_create`).
    Register,
    /// Citizen login with the OTP as password.
    Login,
    /// Forgotten password (`/user/password/nologin/_update`).
    PasswordReset,
    /// Created by another service through `/otp/v1/_create`.
    Direct,
}

impl Purpose {
    /// user-otp's `type`: case-insensitive; absent or empty means `register`; anything else is refused.
    pub fn parse_send_type(raw: Option<&str>) -> Option<Self> {
        match raw
            .map(str::trim)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "register" => Some(Self::Register),
            "login" => Some(Self::Login),
            "passwordreset" => Some(Self::PasswordReset),
            _ => None,
        }
    }

    /// The wire and label spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::PasswordReset => "passwordreset",
            Self::Direct => "direct",
        }
    }
}

/// The OTP limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpPolicy {
    /// Digits per code (`egov.otp.length`).
    pub length: u32,
    /// Lifetime of a code, ms (`otp.ttl`).
    pub ttl_ms: i64,
    /// Wrong tries a code survives, from every address together.
    pub max_attempts: u8,
    /// Wrong tries one client address may make at a number's live codes.
    pub attempts_per_source: u8,
    /// SMS to one number one client address may ask for per rolling hour.
    pub sends_per_source: u32,
    /// Addresses one number's session remembers apart (past it they share one count).
    pub max_sources: usize,
    /// Minimum time between two SMS to one number, ms.
    pub cooldown_ms: i64,
    /// SMS to one number per rolling hour.
    pub per_hour: u32,
    /// SMS to one number per rolling day.
    pub per_day: u32,
    /// SMS one code is sent in at most (the first and its resends); further resends are held.
    pub sms_per_code: u32,
}

pub(crate) const HOUR_MS: i64 = 3_600_000;
/// A day in ms: how long sends and consumptions are remembered.
pub const DAY_MS: i64 = 24 * HOUR_MS;
