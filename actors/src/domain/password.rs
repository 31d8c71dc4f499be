//! Password policy: DIGIT's (8–15 characters, digit + lower + upper + one of `@#$%`, no white space) or
//! NIST 800-63B style (15–64 characters, no composition rules). Both are evaluated on the whole password
//! (DIGIT's `find()` let white space before a compliant tail through; we do not).

use serde::Deserialize;

/// Which rule set applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// DIGIT's rules, which the DIGIT UI assumes.
    Digit,
    /// Length only, no composition rules.
    Nist,
}

/// A password rule that was broken, with DIGIT's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolation {
    /// `INVALID_PWD_LENGTH` or `INVALID_PWD_PATTERN`.
    pub code: &'static str,
    /// DIGIT's message.
    pub message: String,
}

/// The configured password policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Rule set.
    pub kind: PolicyKind,
    /// Minimum length in characters.
    pub min_len: usize,
    /// Maximum length in characters.
    pub max_len: usize,
}

impl PasswordPolicy {
    /// Checks `password`; both violations can come back together, as in DIGIT.
    pub fn check(&self, password: &str) -> Vec<PolicyViolation> {
        let mut out = Vec::new();
        let len = password.chars().count();
        if len < self.min_len || len > self.max_len {
            out.push(PolicyViolation {
                code: "INVALID_PWD_LENGTH",
                message: format!(
                    "Password must be of minimum: {} and maximum: {} characters.",
                    self.min_len, self.max_len
                ),
            });
        }
        if self.kind == PolicyKind::Digit && !digit_composition(password) {
            out.push(PolicyViolation {
                code: "INVALID_PWD_PATTERN",
                message: "Password MUST HAVE: Atleast one digit, one upper case, one lower case, one special \
                          character (@#$%) and MUST NOT contain any spaces"
                    .to_owned(),
            });
        }
        out
    }
}

fn digit_composition(p: &str) -> bool {
    p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| c.is_lowercase())
        && p.chars().any(|c| c.is_uppercase())
        && p.chars().any(|c| "@#$%".contains(c))
        && !p.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit() -> PasswordPolicy {
        PasswordPolicy {
            kind: PolicyKind::Digit,
            min_len: 8,
            max_len: 15,
        }
    }

    fn codes(p: &PasswordPolicy, pw: &str) -> Vec<&'static str> {
        p.check(pw).into_iter().map(|v| v.code).collect()
    }

    #[test]
    fn digit_policy_accepts_a_compliant_password() {
        assert!(digit().check("Abcdef1@").is_empty());
        assert!(digit().check("Xy9#Xy9#Xy9#Xy9").is_empty());
    }

    #[test]
    fn digit_policy_reports_length_and_pattern_together() {
        assert_eq!(
            codes(&digit(), "abc"),
            ["INVALID_PWD_LENGTH", "INVALID_PWD_PATTERN"]
        );
        assert_eq!(codes(&digit(), "Abcdef1@Abcdef1@"), ["INVALID_PWD_LENGTH"]);
        assert_eq!(
            digit().check("abc")[0].message,
            "Password must be of minimum: 8 and maximum: 15 characters."
        );
    }

    #[test]
    fn each_missing_class_fails_the_pattern() {
        for pw in ["abcdef1@", "ABCDEF1@", "Abcdefg@", "Abcdefg1", "Abcdef1!"] {
            assert_eq!(codes(&digit(), pw), ["INVALID_PWD_PATTERN"], "{pw}");
        }
    }

    #[test]
    fn white_space_anywhere_fails_even_before_a_compliant_tail() {
        assert_eq!(codes(&digit(), "x Abcdef1@"), ["INVALID_PWD_PATTERN"]);
        assert_eq!(codes(&digit(), "Abcd ef1@"), ["INVALID_PWD_PATTERN"]);
    }

    #[test]
    fn nist_policy_checks_length_only() {
        let nist = PasswordPolicy {
            kind: PolicyKind::Nist,
            min_len: 15,
            max_len: 64,
        };
        assert!(nist.check("correct horse battery staple").is_empty());
        assert_eq!(codes(&nist, "Short1@"), ["INVALID_PWD_LENGTH"]);
    }
}
