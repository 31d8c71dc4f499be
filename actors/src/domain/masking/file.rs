//! The policy as `config/privacy.toml` writes it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Mask, MaskingPolicy, PiiField, Rule, Visibility};

/// `config/privacy.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Pattern id → mask spelling.
    pub patterns: BTreeMap<String, String>,
    /// Field → pattern id.
    pub fields: BTreeMap<PiiField, String>,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RuleFile>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Roles.
    pub roles: Vec<String>,
    /// States whose users it is for; absent: every state.
    #[serde(default)]
    pub states: Vec<String>,
    /// Fields shown in clear.
    #[serde(default)]
    pub plain: Vec<PiiField>,
    /// Fields masked.
    #[serde(default)]
    pub masked: Vec<PiiField>,
    /// Fields not shown.
    #[serde(default)]
    pub removed: Vec<PiiField>,
}

impl PolicyFile {
    /// The policy, or what is wrong with the file.
    pub fn into_policy(self) -> Result<MaskingPolicy, String> {
        let patterns = self
            .patterns
            .iter()
            .map(|(id, spec)| {
                Mask::parse(spec)
                    .map(|m| (id.clone(), m))
                    .ok_or_else(|| format!("pattern {id}: `{spec}` is not a mask"))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let masks = self
            .fields
            .iter()
            .map(|(field, id)| {
                patterns
                    .get(id)
                    .map(|m| (*field, *m))
                    .ok_or_else(|| format!("field {}: no pattern {id}", field.as_str()))
            })
            .collect::<Result<_, _>>()?;
        let rules = self
            .rules
            .into_iter()
            .map(|r| {
                if r.roles.is_empty() {
                    return Err("a rule names no role".to_owned());
                }
                let mut fields = BTreeMap::new();
                for (list, seen) in [
                    (&r.plain, Visibility::Plain),
                    (&r.masked, Visibility::Masked),
                    (&r.removed, Visibility::Removed),
                ] {
                    for field in list {
                        if fields.insert(*field, seen).is_some() {
                            return Err(format!(
                                "rule {:?}: {} is listed twice",
                                r.roles,
                                field.as_str()
                            ));
                        }
                    }
                }
                Ok(Rule {
                    roles: r.roles,
                    states: r.states.iter().map(|s| s.to_ascii_lowercase()).collect(),
                    fields,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(MaskingPolicy { masks, rules })
    }
}
