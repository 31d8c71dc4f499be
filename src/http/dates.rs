//! DIGIT's date formats (UTC): `dob` as `dd/MM/yyyy` on create responses and input, `yyyy-MM-dd` on
//! search and update responses; timestamps as `dd-MM-yyyy HH:mm:ss`. Inputs also accept epoch ms.

use serde_json::Value;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

const DMY_SLASH: &[time::format_description::BorrowedFormatItem<'_>] =
    format_description!("[day]/[month]/[year]");
const YMD_DASH: &[time::format_description::BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]");
const TIMESTAMP: &[time::format_description::BorrowedFormatItem<'_>] =
    format_description!("[day]-[month]-[year] [hour]:[minute]:[second]");

fn utc(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// `dd/MM/yyyy`
pub fn dob_slash(ms: i64) -> Option<String> {
    utc(ms)?.format(DMY_SLASH).ok()
}

/// `yyyy-MM-dd`
pub fn dob_dash(ms: i64) -> Option<String> {
    utc(ms)?.format(YMD_DASH).ok()
}

/// `dd-MM-yyyy HH:mm:ss`
pub fn timestamp(ms: i64) -> Option<String> {
    utc(ms)?.format(TIMESTAMP).ok()
}

/// A date input in none of the accepted formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDate;

/// A date of birth from `dd/MM/yyyy`, `yyyy-MM-dd` (what search returned) or epoch ms.
pub fn parse_dob(v: &Value) -> Result<Option<i64>, BadDate> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or(BadDate),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Date::parse(s.trim(), DMY_SLASH)
            .or_else(|_| Date::parse(s.trim(), YMD_DASH))
            .map(|d| Some(d.midnight().assume_utc().unix_timestamp() * 1000))
            .map_err(|_| BadDate),
        _ => Err(BadDate),
    }
}

/// A timestamp from `dd-MM-yyyy HH:mm:ss` or epoch ms.
pub fn parse_timestamp(v: &Value) -> Result<Option<i64>, BadDate> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or(BadDate),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => PrimitiveDateTime::parse(s.trim(), TIMESTAMP)
            .map(|t| Some(t.assume_utc().unix_timestamp() * 1000))
            .map_err(|_| BadDate),
        _ => Err(BadDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_formats() {
        let ms = parse_dob(&json!("03/08/1917")).unwrap().unwrap();
        assert_eq!(dob_slash(ms).unwrap(), "03/08/1917");
        assert_eq!(dob_dash(ms).unwrap(), "1917-08-03");
        assert_eq!(parse_dob(&json!("1917-08-03")).unwrap(), Some(ms));
        let ts = parse_timestamp(&json!("08-02-2018 16:45:36"))
            .unwrap()
            .unwrap();
        assert_eq!(timestamp(ts).unwrap(), "08-02-2018 16:45:36");
    }

    #[test]
    fn epoch_ms_is_read_in_utc() {
        // 1986-08-03T18:30:00Z = midnight 4 Aug in India; DIGIT formats in UTC
        assert_eq!(
            dob_slash(parse_dob(&json!(523470600000i64)).unwrap().unwrap()).unwrap(),
            "03/08/1986"
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse_dob(&json!("31/02/2001")).is_err());
        assert!(parse_dob(&json!("yesterday")).is_err());
        assert!(parse_timestamp(&json!("2018-02-08")).is_err());
        assert!(parse_dob(&json!(true)).is_err());
    }
}
