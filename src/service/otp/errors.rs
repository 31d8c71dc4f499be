//! Why an OTP flow was refused: the request rules of `_send` and every error of the OTP service.

use actors::directory::Unreachable;
use actors::domain::otp::Throttle;
use actors::store::StoreError;

use crate::service::registry::RegistryError;

/// A rule of `_send`'s request validation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRule {
    /// `tenantId` empty.
    TenantMissing,
    /// `mobileNumber` empty.
    MobileMissing,
    /// `type` not register/login/passwordreset.
    TypeInvalid,
    /// `tenantId` of a state this deployment does not serve.
    TenantUnknown,
    /// `countryCode` not among the state's (its mobile rules'); the allowed ones.
    CountryNotAllowed(Vec<String>),
}

/// Why an OTP request was refused.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// `_send` request rules; the mobile mismatch carries the pattern.
    #[error("invalid otp request")]
    InvalidSend(Vec<SendRule>, Option<String>),
    /// register: the number belongs to a user.
    #[error("mobile number already registered")]
    AlreadyRegistered,
    /// login: no such user.
    #[error("unknown credential")]
    UnknownCredential,
    /// passwordreset: no such user.
    #[error("unknown mobile number")]
    UnknownMobile,
    /// passwordreset: the user has no mobile number.
    #[error("user has no mobile number")]
    NoMobile,
    /// The tenant is of a state this deployment does not serve (egov-otp's create and validate).
    #[error("unknown tenant")]
    UnknownTenant,
    /// A per-number limit; seconds to wait.
    #[error("too many otp requests for this number")]
    NumberThrottled(Throttle),
    /// The per-IP cap; seconds to wait.
    #[error("too many otp requests from this client")]
    IpThrottled(i64),
    /// A cap of many numbers: their prefix's, or the state's ceiling.
    #[error("too many otp requests for {}", .0.reason())]
    Capped(Throttle),
    /// The outbox is too deep to accept more.
    #[error("notification backlog")]
    Backlog,
    /// Wrong, expired, used or unknown code.
    #[error("otp validation unsuccessful")]
    ValidationFailed,
    /// Sessions saturated or slow.
    #[error(transparent)]
    Route(#[from] Unreachable),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl OtpError {
    /// Whether the refusal says something of the number's account: none, one, or one whose own limits are
    /// reached (only a number with codes reaches them). `security.uniform_answers` answers these as a send.
    pub fn reveals_account(&self) -> bool {
        self.is_lookup_refusal() || matches!(self, Self::NumberThrottled(_))
    }

    /// Whether `_send` found no one to send to (or someone it may not send to) for the purpose.
    pub(super) fn is_lookup_refusal(&self) -> bool {
        matches!(
            self,
            Self::AlreadyRegistered
                | Self::UnknownCredential
                | Self::UnknownMobile
                | Self::NoMobile
        )
    }
}
