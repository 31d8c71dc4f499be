//! Property tests of the request parsers: DIGIT's lenient JSON (keys in any case), its date formats and the
//! token endpoint's query-and-form parameters. For any input: no panic — a value or a refusal — and what is
//! read is what was meant. Run with the other tests (proptest, 256 cases each).

use actix_web::web::Bytes;
use proptest::prelude::*;
use serde_json::Value;

use super::dates::{dob_dash, dob_slash, parse_dob, parse_timestamp, timestamp};
use super::json::{lower_keys, parse};
use super::oauth::Params;

/// Any JSON value a few levels deep, with keys in mixed case.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether every key of `v`, at every depth, is in lower case.
fn all_lower(v: &Value) -> bool {
    match v {
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| *k == k.to_lowercase() && all_lower(v)),
        Value::Array(items) => items.iter().all(all_lower),
        _ => true,
    }
}

/// 1900-01-01 to 2100-01-01, epoch ms.
const YEARS: std::ops::Range<i64> = -2_208_988_800_000..4_102_444_800_000;

proptest! {
    #[test]
    fn any_body_is_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&Bytes::from(bytes));
    }

    #[test]
    fn keys_fold_to_lower_case_at_every_depth_and_values_stay(v in json_value()) {
        let lowered = lower_keys(v.clone());
        prop_assert!(all_lower(&lowered));
        prop_assert_eq!(lower_keys(lowered.clone()), lowered.clone(), "folding twice changes nothing");
        let body = Bytes::from(serde_json::to_vec(&v).unwrap());
        prop_assert_eq!(parse(&body).unwrap(), Some(lowered));
    }

    #[test]
    fn a_key_in_any_case_reads_as_its_lower_case(
        key in "[a-z]{1,12}",
        upper in prop::collection::vec(any::<bool>(), 1..12),
        value in ".{0,20}",
    ) {
        let shouted: String = key
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect();
        let body = serde_json::json!({"RequestInfo": {}, "user": {shouted: value}});
        let parsed = parse(&Bytes::from(serde_json::to_vec(&body).unwrap())).unwrap().unwrap();
        prop_assert_eq!(&parsed["user"][key.as_str()], &Value::from(value));
        prop_assert!(parsed.get("requestinfo").is_some());
    }

    #[test]
    fn dates_read_back_as_written(ms in YEARS) {
        let day = ms.div_euclid(86_400_000) * 86_400_000;
        prop_assert_eq!(parse_dob(&Value::from(dob_slash(ms).unwrap())), Ok(Some(day)));
        prop_assert_eq!(parse_dob(&Value::from(dob_dash(ms).unwrap())), Ok(Some(day)));
        prop_assert_eq!(parse_dob(&Value::from(ms)), Ok(Some(ms)), "epoch ms as they are");
        let second = ms.div_euclid(1000) * 1000;
        prop_assert_eq!(parse_timestamp(&Value::from(timestamp(ms).unwrap())), Ok(Some(second)));
    }

    #[test]
    fn any_date_text_is_read_or_refused(text in ".{0,24}", number in any::<f64>()) {
        for v in [Value::from(text), Value::from(number)] {
            let _ = parse_dob(&v);
            let _ = parse_timestamp(&v);
        }
    }

    #[test]
    fn a_parameter_is_its_first_non_blank_value_the_query_first(
        query in prop::collection::vec(("[a-z_]{1,6}", ".{0,8}"), 0..6),
        form in prop::collection::vec(("[a-z_]{1,6}", ".{0,8}"), 0..6),
    ) {
        let encoded_query = serde_urlencoded::to_string(&query).unwrap();
        let encoded_form = serde_urlencoded::to_string(&form).unwrap();
        let params = Params::from_parts(&encoded_query, Some(encoded_form.as_bytes())).unwrap();
        for (name, _) in query.iter().chain(&form) {
            let meant = query
                .iter()
                .chain(&form)
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.trim())
                .find(|v| !v.is_empty());
            prop_assert_eq!(params.get(name), meant);
        }
        let no_form = Params::from_parts(&encoded_query, None).unwrap();
        for (name, _) in form.iter().filter(|(k, _)| !query.iter().any(|(q, _)| q == k)) {
            prop_assert_eq!(no_form.get(name), None, "a body that is not a form is not read as one");
        }
    }

    #[test]
    fn any_parameter_bytes_are_read_or_refused(
        query in ".{0,40}",
        form in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let _ = Params::from_parts(&query, Some(&form));
    }
}
