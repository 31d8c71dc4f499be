//! Who sees which personal data of a user in clear: DIGIT's role-based visibility of PII (its
//! `DataSecurity` master data: the `SecurityPolicy` of model `User` and the `MaskingPatterns`), as a pure
//! policy over a [`UserRecord`].
//!
//! Each PII field has a mask. Each rule names roles and, per field, a visibility: plain, masked or removed.
//! A viewer's visibility of a field is the most permissive one among the rules whose roles it holds (and
//! whose states include the record's state); a field no such rule names is plain. A viewer always sees their
//! own record in clear, and may ask one record's masked fields in clear (`plainAccessRequest`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::UserRecord;

mod file;
pub use file::{PolicyFile, RuleFile};

/// A personal field of a user, by its name on the wire (and in DIGIT's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum PiiField {
    /// `name`
    #[serde(rename = "name")]
    Name,
    /// `mobileNumber`
    #[serde(rename = "mobileNumber")]
    MobileNumber,
    /// `emailId`
    #[serde(rename = "emailId")]
    EmailId,
    /// `userName`
    #[serde(rename = "userName", alias = "username")]
    UserName,
    /// `altContactNumber`
    #[serde(rename = "altContactNumber")]
    AltContactNumber,
    /// `alternatemobilenumber`
    #[serde(rename = "alternatemobilenumber")]
    AlternateMobileNumber,
    /// `pan`
    #[serde(rename = "pan")]
    Pan,
    /// `aadhaarNumber`
    #[serde(rename = "aadhaarNumber")]
    AadhaarNumber,
    /// `guardian`
    #[serde(rename = "guardian")]
    Guardian,
    /// `fatherOrHusbandName` (stored as the guardian's name)
    #[serde(rename = "fatherOrHusbandName")]
    FatherOrHusbandName,
    /// `permanentAddress` (the street address; city and PIN code stay)
    #[serde(rename = "permanentAddress")]
    PermanentAddress,
    /// `correspondenceAddress`
    #[serde(rename = "correspondenceAddress")]
    CorrespondenceAddress,
}

impl PiiField {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::MobileNumber => "mobileNumber",
            Self::EmailId => "emailId",
            Self::UserName => "userName",
            Self::AltContactNumber => "altContactNumber",
            Self::AlternateMobileNumber => "alternatemobilenumber",
            Self::Pan => "pan",
            Self::AadhaarNumber => "aadhaarNumber",
            Self::Guardian => "guardian",
            Self::FatherOrHusbandName => "fatherOrHusbandName",
            Self::PermanentAddress => "permanentAddress",
            Self::CorrespondenceAddress => "correspondenceAddress",
        }
    }

    /// The field named `name` on the wire (case as DIGIT writes it), if it is a personal one.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    /// Every field.
    pub const ALL: [Self; 12] = [
        Self::Name,
        Self::MobileNumber,
        Self::EmailId,
        Self::UserName,
        Self::AltContactNumber,
        Self::AlternateMobileNumber,
        Self::Pan,
        Self::AadhaarNumber,
        Self::Guardian,
        Self::FatherOrHusbandName,
        Self::PermanentAddress,
        Self::CorrespondenceAddress,
    ];

    /// The value of this field in `user`, for reading and writing. The guardian and the father's or
    /// husband's name are one stored field.
    fn slot(self, user: &mut UserRecord) -> Option<&mut Option<String>> {
        Some(match self {
            Self::Name => &mut user.name,
            Self::MobileNumber => &mut user.mobile_number,
            Self::EmailId => &mut user.email_id,
            Self::UserName => return None,
            Self::AltContactNumber => &mut user.alt_contact_number,
            Self::AlternateMobileNumber => &mut user.alt_mobile_number,
            Self::Pan => &mut user.pan,
            Self::AadhaarNumber => &mut user.aadhaar_number,
            Self::Guardian | Self::FatherOrHusbandName => &mut user.guardian,
            Self::PermanentAddress => &mut user.permanent_address.as_mut()?.address,
            Self::CorrespondenceAddress => &mut user.correspondence_address.as_mut()?.address,
        })
    }
}

/// How a field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// In clear.
    Plain,
    /// Masked by the field's pattern (DIGIT's `MASKED`).
    Masked,
    /// Not shown at all (DIGIT's `NONE`: its value reads "Confidential Information").
    Removed,
}

/// What DIGIT writes for a removed value.
pub const REMOVED: &str = "Confidential Information";

/// A masking pattern: which characters of a value become `*` (one for one, so the length shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Every character but the last N (DIGIT 001: N = 4; 003: N = 2).
    KeepLast(usize),
    /// Every letter or digit that follows a letter or digit: each word keeps its first character (002).
    Initials,
    /// An e-mail address: the local part keeps its first character, the domain its first and last (004).
    Email,
    /// Letters, digits, spaces and common punctuation of any script (005, whose class also spans most ASCII
    /// punctuation; it left other scripts in clear, this one masks them too).
    Address,
    /// Every letter or digit but the last N of them (006: N = 2).
    KeepLastWordChars(usize),
    /// Every character but the first and the last N (007: N = 3; 008: N = 2).
    KeepEnds(usize),
}

impl Mask {
    /// Parses a mask as the policy file spells it: `keep_last:4`, `initials`, `email`, `address`,
    /// `keep_last_word_chars:2`, `keep_ends:3`.
    pub fn parse(spec: &str) -> Option<Self> {
        let (kind, n) = match spec.split_once(':') {
            Some((kind, n)) => (kind.trim(), Some(n.trim().parse().ok()?)),
            None => (spec.trim(), None),
        };
        Some(match (kind, n) {
            ("keep_last", Some(n)) => Self::KeepLast(n),
            ("initials", None) => Self::Initials,
            ("email", None) => Self::Email,
            ("address", None) => Self::Address,
            ("keep_last_word_chars", Some(n)) => Self::KeepLastWordChars(n),
            ("keep_ends", Some(n)) => Self::KeepEnds(n),
            _ => return None,
        })
    }

    /// `value` masked.
    pub fn apply(self, value: &str) -> String {
        let chars: Vec<char> = value.chars().collect();
        let len = chars.len();
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let hide = |i: usize, c: char| -> bool {
            match self {
                Self::KeepLast(n) => i + n < len,
                Self::Initials => c.is_alphanumeric() && i > 0 && word(chars[i - 1]),
                Self::Address => {
                    c.is_alphanumeric() || c.is_whitespace() || matches!(c, '(' | ')' | ','..='_')
                }
                Self::KeepLastWordChars(n) => {
                    word(c) && chars[i + 1..].iter().filter(|c| word(**c)).count() >= n
                }
                Self::KeepEnds(n) => i > 0 && i + n < len,
                Self::Email => unreachable!("masked by parts"),
            }
        };
        if self == Self::Email {
            return match value.split_once('@') {
                Some((local, domain)) => {
                    format!(
                        "{}@{}",
                        Self::KeepEnds(0).apply(local),
                        Self::KeepEnds(1).apply(domain)
                    )
                }
                None => value.to_owned(),
            };
        }
        chars
            .iter()
            .enumerate()
            .map(|(i, c)| if hide(i, *c) { '*' } else { *c })
            .collect()
    }
}

/// One rule of the policy.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// The roles it applies to (any of them).
    pub roles: Vec<String>,
    /// The states whose users it applies to; empty: every state.
    pub states: Vec<String>,
    /// Per field, how it is shown.
    pub fields: BTreeMap<PiiField, Visibility>,
}

/// Who is looking.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The viewer's uuid (their own record is shown in clear).
    pub uuid: Option<String>,
    /// Their role codes (with their user type as one more, as DIGIT adds it).
    pub roles: Vec<String>,
    /// `plainAccessRequest`: one record's masked fields asked in clear.
    pub plain_request: Option<PlainRequest>,
}

/// `RequestInfo.plainAccessRequest`.
#[derive(Debug, Clone, Default)]
pub struct PlainRequest {
    /// `recordId`: the uuid of the user.
    pub record: String,
    /// `plainRequestFields`.
    pub fields: Vec<PiiField>,
}

/// The policy.
#[derive(Debug, Clone, Default)]
pub struct MaskingPolicy {
    /// Each field's mask; a field without one is shown as DIGIT's removed value when masked.
    pub masks: BTreeMap<PiiField, Mask>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// What showing a record did: the fields a plain-access request unmasked (to audit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    /// Fields shown in clear on request.
    pub unmasked: Vec<PiiField>,
}

impl MaskingPolicy {
    /// How `viewer` sees `field` of a user of `state`.
    pub fn visibility(&self, viewer: &Viewer, state: &str, field: PiiField) -> Visibility {
        self.rules
            .iter()
            .filter(|r| r.states.is_empty() || r.states.iter().any(|s| s == state))
            .filter(|r| r.roles.iter().any(|role| viewer.roles.contains(role)))
            .filter_map(|r| r.fields.get(&field).copied())
            .min()
            .unwrap_or(Visibility::Plain)
    }

    /// Masks `user` as `viewer` may see it.
    pub fn show(&self, user: &mut UserRecord, viewer: &Viewer) -> Shown {
        let mut shown = Shown::default();
        if viewer.uuid.as_deref() == Some(user.uuid.as_str()) {
            return shown;
        }
        let state = user.tenant_id.state().to_string();
        let asked = viewer
            .plain_request
            .as_ref()
            .filter(|p| p.record == user.uuid);
        for field in PiiField::ALL {
            // the guardian and the father's or husband's name are one stored value: the stricter rule wins
            let mut seen = match field {
                PiiField::Guardian => continue,
                PiiField::FatherOrHusbandName => self
                    .visibility(viewer, &state, field)
                    .max(self.visibility(viewer, &state, PiiField::Guardian)),
                _ => self.visibility(viewer, &state, field),
            };
            if seen == Visibility::Masked && asked.is_some_and(|p| p.fields.contains(&field)) {
                shown.unmasked.push(field);
                seen = Visibility::Plain;
            }
            let mask = self.masks.get(&field).copied();
            let hidden = |value: &str| match (seen, mask) {
                (Visibility::Plain, _) => value.to_owned(),
                (Visibility::Masked, Some(mask)) => mask.apply(value),
                _ => REMOVED.to_owned(),
            };
            if field == PiiField::UserName {
                user.user_name = hidden(&user.user_name);
            } else if let Some(Some(value)) = field.slot(user) {
                *value = hidden(value);
            }
        }
        shown
    }

    /// The stored value of `field` that `value` stands for, when `value` is its masked form (or DIGIT's
    /// removed value): a client that read a masked search and sends it back in an update means to keep it.
    pub fn stored_behind(
        &self,
        stored: &UserRecord,
        field: PiiField,
        value: &str,
    ) -> Option<String> {
        let kept = match field {
            PiiField::UserName => Some(stored.user_name.clone()),
            _ => field.slot(&mut stored.clone()).and_then(|v| v.clone()),
        }?;
        let masked = self.masks.get(&field).map(|m| m.apply(&kept));
        (value != kept
            && ((value.contains('*') && masked.as_deref() == Some(value)) || value == REMOVED))
            .then_some(kept)
    }
}

#[cfg(test)]
mod tests;
