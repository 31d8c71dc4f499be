//! Tenant ids: `pb` (state level) or `pb.amritsar` (a city of the state `pb`).

use std::fmt;

/// The longest tenant id the user contract accepts.
pub const MAX_TENANT_LEN: usize = 50;

/// A tenant id that matched DIGIT's tenant pattern `^[a-zA-Z. ]*$` and is not empty.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TenantId(String);

/// Why a tenant id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// Empty or only white space.
    #[error("tenantId is mandatory")]
    Missing,
    /// A character outside letters, dots and spaces.
    #[error("tenantId must match \"^[a-zA-Z. ]*$\"")]
    Pattern,
}

impl TenantId {
    /// Parses a tenant id as DIGIT's bean pattern does.
    pub fn parse(raw: &str) -> Result<Self, TenantError> {
        if raw.trim().is_empty() {
            return Err(TenantError::Missing);
        }
        if !is_tenant_pattern(raw) {
            return Err(TenantError::Pattern);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The state-level tenant: the first dot-separated segment (`pb.amritsar` → `pb`).
    pub fn state(&self) -> TenantId {
        match self.0.split_once('.') {
            Some((state, _)) => Self(state.to_owned()),
            None => self.clone(),
        }
    }

    /// Whether this is a state-level tenant (no dot).
    pub fn is_state_level(&self) -> bool {
        !self.0.contains('.')
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// DIGIT's tenant bean pattern `^[a-zA-Z. ]*$`.
pub fn is_tenant_pattern(raw: &str) -> bool {
    raw.chars()
        .all(|c| c.is_ascii_alphabetic() || c == '.' || c == ' ')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_the_first_segment() {
        assert_eq!(
            TenantId::parse("pb.amritsar").unwrap().state().as_str(),
            "pb"
        );
        assert_eq!(TenantId::parse("pb").unwrap().state().as_str(), "pb");
        assert!(TenantId::parse("pb").unwrap().is_state_level());
        assert!(!TenantId::parse("pb.amritsar").unwrap().is_state_level());
    }

    #[test]
    fn digits_underscores_and_blanks_are_refused() {
        assert_eq!(TenantId::parse("pb.city1"), Err(TenantError::Pattern));
        assert_eq!(TenantId::parse("pb_x"), Err(TenantError::Pattern));
        assert_eq!(TenantId::parse("  "), Err(TenantError::Missing));
        assert_eq!(TenantId::parse(""), Err(TenantError::Missing));
    }
}
