//! Mobile-number rules per state tenant (the MDMS `common-masters.MobileNumberValidation` of DIGIT, here a
//! file under `config/`): a regular expression and a country code, with a default entry per state and a
//! global fallback.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

/// One rule as written in `config/mobile.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileRuleSpec {
    /// Country code, e.g. `+91`.
    pub country_code: String,
    /// Regular expression the national number must match.
    pub regex: String,
    /// Whether this is the state's default entry.
    #[serde(default)]
    pub default: bool,
}

/// `config/mobile.toml`: `[[state.<tenant>]]` entries; a state without entries uses the fallback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileRulesFile {
    /// Entries per state tenant.
    #[serde(default)]
    pub state: BTreeMap<String, Vec<MobileRuleSpec>>,
}

#[derive(Debug, Clone)]
struct Rule {
    country_code: String,
    pattern: String,
    regex: Regex,
    default: bool,
}

/// Why a rule file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid mobile number regex for {state} {country_code}: {source}")]
pub struct MobileRulesError {
    state: String,
    country_code: String,
    #[source]
    source: regex::Error,
}

/// A number refused by the rules, with DIGIT's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileMismatch {
    /// The pattern the number had to match.
    pub pattern: String,
}

impl MobileMismatch {
    /// DIGIT's `INVALID_MOBILE_NUMBER` message.
    pub fn message(&self) -> String {
        format!(
            "Mobile number must match the configured pattern: {}",
            self.pattern
        )
    }
}

/// Compiled rules.
#[derive(Debug, Clone)]
pub struct MobileRules {
    states: BTreeMap<String, Vec<Rule>>,
    fallback: Rule,
}

impl MobileRules {
    /// Compiles the file's rules with a fallback (`egov.mobile.validation.default.*`).
    pub fn new(
        file: &MobileRulesFile,
        fallback_country: &str,
        fallback_regex: &str,
    ) -> Result<Self, MobileRulesError> {
        let compile = |state: &str, spec: &MobileRuleSpec| {
            Regex::new(&spec.regex)
                .map(|regex| Rule {
                    country_code: spec.country_code.clone(),
                    pattern: spec.regex.clone(),
                    regex,
                    default: spec.default,
                })
                .map_err(|source| MobileRulesError {
                    state: state.to_owned(),
                    country_code: spec.country_code.clone(),
                    source,
                })
        };
        let fallback = compile(
            "fallback",
            &MobileRuleSpec {
                country_code: fallback_country.into(),
                regex: fallback_regex.into(),
                default: true,
            },
        )?;
        let mut states = BTreeMap::new();
        for (state, specs) in &file.state {
            let rules = specs
                .iter()
                .map(|s| compile(state, s))
                .collect::<Result<Vec<_>, _>>()?;
            // keyed as tenants are compared: trimmed, lower case
            states.insert(state.trim().to_ascii_lowercase(), rules);
        }
        Ok(Self { states, fallback })
    }

    /// The state tenants with rules of their own.
    pub fn states(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The country codes an SMS may go to for `state`: its rules' codes, else the fallback's.
    pub fn country_codes(&self, state: &str) -> Vec<&str> {
        match self.states.get(state.trim().to_ascii_lowercase().as_str()) {
            Some(rules) if !rules.is_empty() => {
                rules.iter().map(|r| r.country_code.as_str()).collect()
            }
            _ => vec![self.fallback.country_code.as_str()],
        }
    }

    /// Whether an SMS may go to `country_code` for `state` (none given: the state's default, allowed).
    /// Codes compare without a leading `+` and spaces ("91" is "+91").
    pub fn allows_country(&self, state: &str, country_code: Option<&str>) -> bool {
        let bare = |c: &str| c.trim().trim_start_matches('+').trim().to_owned();
        country_code.is_none_or(|cc| {
            self.country_codes(state)
                .into_iter()
                .any(|allowed| bare(allowed) == bare(cc))
        })
    }

    /// Checks `number` for `state`: the rule of `country_code` if given and known, else the state's default,
    /// else the fallback. Returns the resolved country code.
    pub fn check(
        &self,
        state: &str,
        country_code: Option<&str>,
        number: &str,
    ) -> Result<String, MobileMismatch> {
        let rules = self
            .states
            .get(state.trim().to_ascii_lowercase().as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let chosen = country_code
            .and_then(|cc| rules.iter().find(|r| r.country_code == cc))
            .or_else(|| rules.iter().find(|r| r.default))
            .or(rules.first())
            .unwrap_or(&self.fallback);
        if chosen.regex.is_match(number) {
            Ok(country_code.map_or_else(|| chosen.country_code.clone(), str::to_owned))
        } else {
            Err(MobileMismatch {
                pattern: chosen.pattern.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> MobileRules {
        let file: MobileRulesFile = toml::from_str(
            r#"
            [[state.ke]]
            country_code = "+254"
            regex = "^[17][0-9]{8}$"
            default = true
            "#,
        )
        .unwrap();
        MobileRules::new(&file, "+91", "^[6-9][0-9]{9}$").unwrap()
    }

    #[test]
    fn states_without_rules_use_the_fallback() {
        assert_eq!(
            rules().check("pb", None, "9876543210"),
            Ok("+91".to_owned())
        );
        let err = rules().check("pb", None, "5876543210").unwrap_err();
        assert_eq!(
            err.message(),
            "Mobile number must match the configured pattern: ^[6-9][0-9]{9}$"
        );
    }

    #[test]
    fn a_state_rule_sets_the_country_code() {
        assert_eq!(
            rules().check("ke", None, "712345678"),
            Ok("+254".to_owned())
        );
        assert!(rules().check("ke", None, "9876543210").is_err());
    }

    #[test]
    fn an_sms_goes_only_to_the_country_codes_of_the_state_s_rules() {
        let r = rules();
        assert!(r.allows_country("pb", None), "none given: the default");
        assert!(r.allows_country("pb", Some("+91")));
        assert!(r.allows_country("pb", Some("91")), "without its plus");
        assert!(!r.allows_country("pb", Some("+882")), "a premium range");
        assert!(!r.allows_country("pb", Some("+44")));
        assert!(r.allows_country("KE", Some("+254")));
        assert!(
            !r.allows_country("ke", Some("+91")),
            "a state with rules: theirs only"
        );
        assert_eq!(r.country_codes("ke"), vec!["+254"]);
    }

    #[test]
    fn an_invalid_regex_is_refused_at_load() {
        let file: MobileRulesFile =
            toml::from_str("[[state.x]]\ncountry_code = \"+1\"\nregex = \"([\"\n").unwrap();
        assert!(MobileRules::new(&file, "+91", "^[6-9][0-9]{9}$").is_err());
    }
}
