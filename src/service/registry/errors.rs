//! Why the registry refused a request.

use actors::domain::mobile::MobileMismatch;
use actors::domain::password::PolicyViolation;
use actors::domain::roles::RoleError;
use actors::hasher::HasherError;
use actors::store::{StoreError, UserWriteError};

/// Why the registry refused a request.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A mandatory create field is missing.
    #[error("{0} is mandatory")]
    CreateMissing(&'static str),
    /// A mandatory update field is missing.
    #[error("{0} is mandatory")]
    UpdateMissing(&'static str),
    /// An update without roles.
    #[error("at least one role is required")]
    NoRoles,
    /// (userName, type, tenant) exists.
    #[error("duplicate user")]
    Duplicate,
    /// A mobile number fails its tenant's rule.
    #[error("invalid mobile number")]
    Mobile(MobileMismatch),
    /// The password policy refused the password.
    #[error("password policy")]
    Password(Vec<PolicyViolation>),
    /// A role is unknown or in another state.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// No user with that uuid.
    #[error("user not found")]
    NotFound(String),
    /// The tenant's state is not one this deployment serves.
    #[error("tenant {0} is not served")]
    UnknownTenant(String),
    /// A profile update of someone else.
    #[error("profile update denied: {0}")]
    ProfileDenied(&'static str),
    /// The hasher refused or failed.
    #[error(transparent)]
    Hasher(#[from] HasherError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<UserWriteError<RegistryError>> for RegistryError {
    fn from(e: UserWriteError<RegistryError>) -> Self {
        match e {
            UserWriteError::Duplicate => Self::Duplicate,
            UserWriteError::NotFound => Self::NotFound("uuid".into()),
            UserWriteError::Refused(e) => e,
            UserWriteError::Store(e) => Self::Store(e),
        }
    }
}
