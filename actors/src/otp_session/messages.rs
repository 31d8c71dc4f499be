//! The messages an OTP session answers, and their errors.

use actix::prelude::*;

use super::Recipients;
use crate::domain::otp::{Hold, Invalid, LiveCode, Purpose, Throttle};
use crate::partition::Partition;
use crate::store::{StoreError, TokenOwner};

/// Send (or re-send) the code of a purpose.
#[derive(Message, Clone)]
#[rtype(result = "Result<SendReceipt, SendError>")]
pub struct SendOtp {
    /// Purpose of the code.
    pub purpose: Purpose,
    /// Where it goes.
    pub to: Recipients,
    /// The state tenant (for the metrics' tenant label).
    pub tenant: String,
    /// Home partition of the session (state, mobile): the token id carries it, so `/otp/v1/_search` routes.
    pub home: Partition,
    /// A cap outside the session (client IP, number prefix, state) allows no SMS now (a resend is then
    /// held, a new code refused).
    pub outside: Option<crate::domain::otp::Throttle>,
    /// The client's address, when known: it gets its share of the number's SMS.
    pub source: Option<std::net::IpAddr>,
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendReceipt {
    /// Token id of the live code.
    pub token_id: String,
    /// Whether the code is new (not a re-send).
    pub is_new: bool,
    /// Notifications queued (none when held or for a test number).
    pub queued: usize,
    /// Why nothing went out for a live code, when it was held.
    pub held: Option<Hold>,
}

/// Why a send did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A limit refused it; nothing was queued.
    #[error("send refused: {}", .0.reason())]
    Throttled(Throttle),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Check (and on success consume) a code.
#[derive(Message, Clone)]
#[rtype(result = "Result<String, ValidateError>")]
pub struct ValidateOtp {
    /// Only this purpose's code, or any live code when `None`.
    pub purpose: Option<Purpose>,
    /// The code as submitted.
    pub code: String,
    /// Who validates: the identity as the request named it and the state tenant (also the metrics' tenant
    /// label). A consumed token is entered for `/otp/v1/_search` under this owner.
    pub owner: TokenOwner,
    /// The client's address, when known: it gets its share of wrong tries.
    pub source: Option<std::net::IpAddr>,
}

/// Why a validation failed.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Wrong, expired, used or unknown.
    #[error("otp validation unsuccessful")]
    Invalid(Invalid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issue a code for `/otp/v1/_create` and return it in clear (internal listener only).
#[derive(Message, Clone)]
#[rtype(result = "Result<(LiveCode, String), StoreError>")]
pub struct CreateDirect(pub TokenOwner);

/// Whether a token is live (`Some(false)`), consumed (`Some(true)`) or unknown.
#[derive(Message, Clone)]
#[rtype(result = "Option<bool>")]
pub struct TokenStatus(pub uuid::Uuid);
