//! Tenant ids: `pb` (state level) or `pb.amritsar` (a city of the state `pb`), and the states a deployment
//! serves.
//!
//! A tenant id is normalised as it is parsed — surrounding blanks dropped, letters lower-cased — so `PB`,
//! ` pb ` and `Pb` are one tenant everywhere: in lookups, in the keys of OTP sessions and in every count.

use std::fmt;

/// The longest tenant id the user contract accepts.
pub const MAX_TENANT_LEN: usize = 50;

/// The longest tenant id any request may carry (egov-otp's column; longer is refused, not truncated).
pub const MAX_ANY_TENANT_LEN: usize = 256;

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
    /// Longer than any tenant id.
    #[error("tenantId is longer than 256 characters")]
    TooLong,
}

impl TenantId {
    /// Parses a tenant id as DIGIT's bean pattern does, normalised: trimmed and lower-cased.
    pub fn parse(raw: &str) -> Result<Self, TenantError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(TenantError::Missing);
        }
        if raw.len() > MAX_ANY_TENANT_LEN {
            return Err(TenantError::TooLong);
        }
        if !is_tenant_pattern(raw) {
            return Err(TenantError::Pattern);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// Whether the id is as [`TenantId::parse`] leaves it (ids stored by earlier builds may not be).
    pub fn is_normalised(&self) -> bool {
        self.0 == self.0.trim().to_ascii_lowercase()
    }

    /// The id as [`TenantId::parse`] would leave it.
    pub fn normalised(&self) -> TenantId {
        Self(self.0.trim().to_ascii_lowercase())
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

/// The state tenants a deployment serves (`tenants.states`): a tenant of any other state is refused where it
/// would create something (an OTP session, a user), so made-up tenants cannot mint fresh counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownStates(std::collections::BTreeSet<String>);

impl KnownStates {
    /// The states named (normalised; blanks and invalid names are skipped).
    pub fn new<'a>(states: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            states
                .into_iter()
                .filter_map(|s| TenantId::parse(s).ok())
                .map(|t| t.state().0)
                .collect(),
        )
    }

    /// Whether `tenant`'s state is served.
    pub fn serves(&self, tenant: &TenantId) -> bool {
        self.0.contains(tenant.state().as_str())
    }

    /// The states, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
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
    fn spellings_of_one_tenant_are_one_tenant() {
        for spelling in ["pb", "PB", "Pb", " pb ", "\tpB\n"] {
            assert_eq!(
                TenantId::parse(spelling).unwrap().as_str(),
                "pb",
                "{spelling:?}"
            );
        }
        assert_eq!(
            TenantId::parse("PB.Amritsar").unwrap().as_str(),
            "pb.amritsar"
        );
        assert_eq!(TenantId::parse(&"a".repeat(257)), Err(TenantError::TooLong));
        let stored: TenantId = serde_json::from_str("\"PB.Amritsar\"").unwrap();
        assert!(!stored.is_normalised());
        assert_eq!(stored.normalised().as_str(), "pb.amritsar");
    }

    #[test]
    fn only_the_named_states_are_served() {
        let states = KnownStates::new(["pb", "HR", "ka.bangalore", "", "x1"]);
        assert_eq!(states.iter().collect::<Vec<_>>(), ["hr", "ka", "pb"]);
        assert!(states.serves(&TenantId::parse("pb.amritsar").unwrap()));
        assert!(states.serves(&TenantId::parse("Hr").unwrap()));
        assert!(!states.serves(&TenantId::parse("zz").unwrap()));
    }

    #[test]
    fn digits_underscores_and_blanks_are_refused() {
        assert_eq!(TenantId::parse("pb.city1"), Err(TenantError::Pattern));
        assert_eq!(TenantId::parse("pb_x"), Err(TenantError::Pattern));
        assert_eq!(TenantId::parse("  "), Err(TenantError::Missing));
        assert_eq!(TenantId::parse(""), Err(TenantError::Missing));
    }
}
