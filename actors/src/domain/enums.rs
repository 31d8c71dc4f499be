//! The enumerations of the user contract and how DIGIT's JSON spells them.
//!
//! - `type`: case-insensitive; an unknown value reads as absent (DIGIT does the same).
//! - `gender`: upper-cased then matched exactly; an unknown value is an error.
//! - `relationship`: exact names; an unknown value is an error.
//! - `bloodGroup`: enum name (`O_POSITIVE`) or symbol (`O+`), case-insensitive; unknown reads as absent;
//!   written as the symbol.

use serde::{Deserialize, Serialize};

/// The kind of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserType {
    /// A member of the public; logs in with an OTP, lives at the state tenant.
    Citizen,
    /// Government staff, created by HRMS or an admin.
    Employee,
    /// Service accounts.
    System,
    /// Business accounts.
    Business,
}

impl UserType {
    /// Case-insensitive parse; `None` for anything else, as DIGIT reads it.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "CITIZEN" => Some(Self::Citizen),
            "EMPLOYEE" => Some(Self::Employee),
            "SYSTEM" => Some(Self::System),
            "BUSINESS" => Some(Self::Business),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "CITIZEN",
            Self::Employee => "EMPLOYEE",
            Self::System => "SYSTEM",
            Self::Business => "BUSINESS",
        }
    }
}

/// Gender as core DIGIT stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Gender {
    /// `FEMALE`
    Female,
    /// `MALE`
    Male,
    /// `OTHERS`
    Others,
    /// `TRANSGENDER`
    Transgender,
}

impl Gender {
    /// Upper-cases and matches exactly; `Err` carries the upper-cased value for the error message.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_uppercase().as_str() {
            "FEMALE" => Ok(Self::Female),
            "MALE" => Ok(Self::Male),
            "OTHERS" => Ok(Self::Others),
            "TRANSGENDER" => Ok(Self::Transgender),
            other => Err(other.to_owned()),
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "FEMALE",
            Self::Male => "MALE",
            Self::Others => "OTHERS",
            Self::Transgender => "TRANSGENDER",
        }
    }
}

/// Relationship of the guardian (`fatherOrHusbandName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Relationship {
    /// `FATHER`
    Father,
    /// `MOTHER`
    Mother,
    /// `HUSBAND`
    Husband,
    /// `OTHER`
    Other,
}

impl Relationship {
    /// The exact names `FATHER|MOTHER|HUSBAND|OTHER`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "FATHER" => Some(Self::Father),
            "MOTHER" => Some(Self::Mother),
            "HUSBAND" => Some(Self::Husband),
            "OTHER" => Some(Self::Other),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Father => "FATHER",
            Self::Mother => "MOTHER",
            Self::Husband => "HUSBAND",
            Self::Other => "OTHER",
        }
    }
}

/// Blood group; stored by name, written on the wire as its symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BloodGroup {
    /// `A+`
    APositive,
    /// `A-`
    ANegative,
    /// `B+`
    BPositive,
    /// `B-`
    BNegative,
    /// `AB+`
    AbPositive,
    /// `AB-`
    AbNegative,
    /// `O+`
    OPositive,
    /// `O-`
    ONegative,
}

impl BloodGroup {
    const ALL: [(Self, &'static str, &'static str); 8] = [
        (Self::APositive, "A_POSITIVE", "A+"),
        (Self::ANegative, "A_NEGATIVE", "A-"),
        (Self::BPositive, "B_POSITIVE", "B+"),
        (Self::BNegative, "B_NEGATIVE", "B-"),
        (Self::AbPositive, "AB_POSITIVE", "AB+"),
        (Self::AbNegative, "AB_NEGATIVE", "AB-"),
        (Self::OPositive, "O_POSITIVE", "O+"),
        (Self::ONegative, "O_NEGATIVE", "O-"),
    ];

    /// Name or symbol, case-insensitive; `None` for anything else (DIGIT silently drops it).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_ascii_uppercase();
        Self::ALL
            .iter()
            .find(|(_, name, symbol)| *name == raw || *symbol == raw)
            .map(|(group, _, _)| *group)
    }

    /// The symbol written on the wire (`O+`).
    pub fn symbol(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(g, _, _)| *g == self)
            .map(|(_, _, s)| *s)
            .expect("all listed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_type_is_case_insensitive_and_unknown_reads_as_absent() {
        assert_eq!(UserType::parse("citizen"), Some(UserType::Citizen));
        assert_eq!(UserType::parse("Employee"), Some(UserType::Employee));
        assert_eq!(UserType::parse("ADMIN"), None);
    }

    #[test]
    fn gender_is_upper_cased_and_unknown_is_an_error() {
        assert_eq!(Gender::parse("female"), Ok(Gender::Female));
        assert_eq!(Gender::parse("Transgender"), Ok(Gender::Transgender));
        assert_eq!(Gender::parse("xyz"), Err("XYZ".to_owned()));
    }

    #[test]
    fn relationship_needs_the_exact_name() {
        assert_eq!(Relationship::parse("FATHER"), Some(Relationship::Father));
        assert_eq!(Relationship::parse("father"), None);
    }

    #[test]
    fn blood_group_reads_names_and_symbols_and_writes_symbols() {
        assert_eq!(BloodGroup::parse("O_POSITIVE"), Some(BloodGroup::OPositive));
        assert_eq!(BloodGroup::parse("ab-"), Some(BloodGroup::AbNegative));
        assert_eq!(BloodGroup::parse("o+").map(BloodGroup::symbol), Some("O+"));
        assert_eq!(BloodGroup::parse("Z+"), None);
    }
}
