use super::*;
use crate::domain::Address;
use crate::domain::tenant::TenantId;

#[test]
fn the_masks_give_digit_s_examples() {
    let cases = [
        ("keep_last:4", "9876543210", "******3210"),
        ("keep_last:2", "9876543210", "********10"),
        ("initials", "Ramesh Kumar", "R***** K****"),
        ("email", "john.doe@gmail.com", "j*******@g*******m"),
        (
            "address",
            "H.No 12/3, Sector-5 #A & B",
            "********************#**&**",
        ),
        ("keep_ends:3", "9876543210", "9******210"),
        ("keep_ends:2", "9876543210", "9*******10"),
        ("keep_last_word_chars:2", "AB 12 CD", "** ** CD"),
    ];
    for (spec, value, masked) in cases {
        let mask = Mask::parse(spec).unwrap_or_else(|| panic!("{spec}"));
        assert_eq!(mask.apply(value), masked, "{spec}");
    }
    assert_eq!(
        Mask::parse("email").unwrap().apply("no-at-sign"),
        "no-at-sign"
    );
    assert_eq!(
        Mask::parse("initials").unwrap().apply("राम कुमार"),
        "र** क****",
        "any script"
    );
    assert_eq!(Mask::parse("keep_last:4").unwrap().apply("12"), "12");
    for bad in ["keep_last", "keep_last:x", "initials:2", "rot13"] {
        assert_eq!(Mask::parse(bad), None, "{bad}");
    }
}

fn citizen() -> UserRecord {
    let mut u = crate::testing::user_record(65536, "citizen-1".into(), "9876543210");
    u.tenant_id = TenantId::parse("pb.amritsar").unwrap();
    u.name = Some("Asha Devi".into());
    u.mobile_number = Some("9876543210".into());
    u.email_id = Some("asha@example.org".into());
    u.guardian = Some("Ram Lal".into());
    u.permanent_address = Some(Address {
        address: Some("H 12, Sector 5".into()),
        city: Some("Amritsar".into()),
        pincode: Some("143001".into()),
    });
    u
}

fn policy() -> MaskingPolicy {
    let masks = [
        (PiiField::Name, Mask::Initials),
        (PiiField::MobileNumber, Mask::KeepLast(4)),
        (PiiField::UserName, Mask::Initials),
        (PiiField::EmailId, Mask::Email),
        (PiiField::PermanentAddress, Mask::Address),
        (PiiField::FatherOrHusbandName, Mask::Initials),
    ];
    let rule = |roles: &[&str], fields: &[(PiiField, Visibility)]| Rule {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        states: Vec::new(),
        fields: fields.iter().copied().collect(),
    };
    MaskingPolicy {
        masks: masks.into_iter().collect(),
        rules: vec![
            rule(
                &["GRO", "PGR_LME"],
                &[
                    (PiiField::Name, Visibility::Masked),
                    (PiiField::MobileNumber, Visibility::Masked),
                    (PiiField::UserName, Visibility::Masked),
                    (PiiField::PermanentAddress, Visibility::Masked),
                ],
            ),
            rule(
                &["WS_CLERK"],
                &[
                    (PiiField::Name, Visibility::Plain),
                    (PiiField::Guardian, Visibility::Removed),
                ],
            ),
        ],
    }
}

fn viewer(roles: &[&str]) -> Viewer {
    Viewer {
        uuid: Some("employee-1".into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        plain_request: None,
    }
}

#[test]
fn a_gro_sees_what_its_rule_masks_and_the_rest_in_clear() {
    let mut u = citizen();
    let shown = policy().show(&mut u, &viewer(&["GRO", "EMPLOYEE"]));
    assert_eq!(shown, Shown::default());
    assert_eq!(u.name.as_deref(), Some("A*** D***"));
    assert_eq!(u.mobile_number.as_deref(), Some("******3210"));
    assert_eq!(
        u.user_name, "9*********",
        "a username of digits is one word"
    );
    assert_eq!(
        u.permanent_address.as_ref().unwrap().address.as_deref(),
        Some("**************")
    );
    assert_eq!(
        u.permanent_address.as_ref().unwrap().city.as_deref(),
        Some("Amritsar")
    );
    assert_eq!(
        u.email_id.as_deref(),
        Some("asha@example.org"),
        "no rule of its names it"
    );
    assert_eq!(u.guardian.as_deref(), Some("Ram Lal"));
}

#[test]
fn the_most_permissive_of_a_viewer_s_rules_wins_and_the_stricter_of_one_stored_field() {
    let mut u = citizen();
    policy().show(&mut u, &viewer(&["GRO", "WS_CLERK"]));
    assert_eq!(
        u.name.as_deref(),
        Some("Asha Devi"),
        "WS_CLERK shows the name"
    );
    assert_eq!(u.mobile_number.as_deref(), Some("******3210"));
    assert_eq!(
        u.guardian.as_deref(),
        Some(REMOVED),
        "guardian removed wins over its other name"
    );
}

#[test]
fn a_viewer_sees_their_own_record_and_a_plain_request_in_clear_and_others_masked() {
    let p = policy();
    let mut own = citizen();
    let mut me = viewer(&["GRO"]);
    me.uuid = Some("citizen-1".into());
    p.show(&mut own, &me);
    assert_eq!(own, citizen());

    let mut asked = viewer(&["GRO"]);
    asked.plain_request = Some(PlainRequest {
        record: "citizen-1".into(),
        fields: vec![PiiField::MobileNumber, PiiField::Guardian],
    });
    let mut u = citizen();
    let shown = p.show(&mut u, &asked);
    assert_eq!(shown.unmasked, vec![PiiField::MobileNumber]);
    assert_eq!(u.mobile_number.as_deref(), Some("9876543210"));
    assert_eq!(u.name.as_deref(), Some("A*** D***"), "not asked");
    let mut other = citizen();
    other.uuid = "citizen-2".into();
    p.show(&mut other, &asked);
    assert_eq!(
        other.mobile_number.as_deref(),
        Some("******3210"),
        "another record"
    );
}

#[test]
fn a_rule_of_other_states_does_not_apply() {
    let mut p = policy();
    p.rules[0].states = vec!["ka".into()];
    let mut u = citizen();
    p.show(&mut u, &viewer(&["GRO"]));
    assert_eq!(u, citizen());
}

#[test]
fn a_masked_value_sent_back_stands_for_the_stored_one_and_nothing_else_does() {
    let p = policy();
    let stored = citizen();
    let mut seen = citizen();
    p.show(&mut seen, &viewer(&["GRO", "WS_CLERK"]));
    let behind = |field, value: Option<&str>| p.stored_behind(&stored, field, value.unwrap());
    assert_eq!(
        behind(PiiField::MobileNumber, seen.mobile_number.as_deref()),
        stored.mobile_number
    );
    assert_eq!(behind(PiiField::Name, Some("A*** D***")), stored.name);
    assert_eq!(
        behind(PiiField::UserName, Some("9*********")),
        Some(stored.user_name.clone())
    );
    assert_eq!(
        behind(PiiField::Guardian, seen.guardian.as_deref()),
        stored.guardian,
        "removed"
    );
    assert_eq!(
        behind(
            PiiField::PermanentAddress,
            seen.permanent_address.as_ref().unwrap().address.as_deref()
        ),
        stored.permanent_address.as_ref().unwrap().address
    );
    assert_eq!(
        behind(PiiField::MobileNumber, Some("9123456789")),
        None,
        "a real change"
    );
    assert_eq!(
        behind(PiiField::Name, Some("A*** D*v*")),
        None,
        "not the masked form"
    );
    assert_eq!(
        behind(PiiField::MobileNumber, Some("9876543210")),
        None,
        "the same value"
    );
    assert_eq!(
        behind(PiiField::Pan, Some("******3210")),
        None,
        "nothing stored there"
    );
}

#[test]
fn a_policy_file_that_names_an_unknown_mask_pattern_or_field_is_refused_naming_it() {
    for (text, why) in [
        (
            "[patterns]\n\"001\" = \"rot13\"\n[fields]\nname = \"001\"\n",
            "rot13",
        ),
        (
            "[patterns]\n\"001\" = \"initials\"\n[fields]\nname = \"009\"\n",
            "009",
        ),
        (
            "[patterns]\n[fields]\n[[rules]]\nroles = [\"GRO\"]\nmasked = [\"nickname\"]\n",
            "nickname",
        ),
        (
            "[patterns]\n[fields]\n[[rules]]\nroles = [\"GRO\"]\nmasked = [\"pan\"]\nplain = [\"pan\"]\n",
            "twice",
        ),
    ] {
        let err = toml::from_str::<PolicyFile>(text)
            .map_err(|e| e.to_string())
            .and_then(PolicyFile::into_policy)
            .unwrap_err();
        assert!(err.contains(why), "{text}: {err}");
    }
}
