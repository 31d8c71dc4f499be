//! Tests of OTP codes and session transitions.

use super::*;
use crate::seal::KEY_LEN;

const POLICY: OtpPolicy = crate::testing::OTP_POLICY;

fn keys() -> OtpKeys {
    OtpKeys::new(&[3; KEY_LEN])
}

/// The token id of `fresh(n)`.
fn token(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}

fn fresh(n: u8) -> FreshCode {
    FreshCode {
        token_id: token(n),
        nonce: [n; 16],
    }
}

/// The SMS a send request came to; panics when it was held.
fn sms(sending: Result<Sending, Throttle>) -> Send {
    sending
        .expect("not refused")
        .into_sms()
        .expect("an sms goes out")
}

fn code_of(live: &LiveCode) -> String {
    keys().derive_code(&live.nonce, POLICY.length)
}

#[test]
fn send_types_parse_as_user_otp_does() {
    assert_eq!(Purpose::parse_send_type(None), Some(Purpose::Register));
    assert_eq!(Purpose::parse_send_type(Some("")), Some(Purpose::Register));
    assert_eq!(
        Purpose::parse_send_type(Some("LOGIN")),
        Some(Purpose::Login)
    );
    assert_eq!(
        Purpose::parse_send_type(Some("passwordReset")),
        Some(Purpose::PasswordReset)
    );
    assert_eq!(Purpose::parse_send_type(Some("unknown")), None);
    assert_eq!(Purpose::parse_send_type(Some("direct")), None);
}

#[test]
fn codes_are_digits_of_the_configured_length_and_spread_evenly() {
    let k = keys();
    let mut first_digits = [0u32; 10];
    for i in 0..5000u32 {
        let mut nonce = [0u8; 16];
        nonce[..4].copy_from_slice(&i.to_be_bytes());
        let code = k.derive_code(&nonce, 6);
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        first_digits[(code.as_bytes()[0] - b'0') as usize] += 1;
    }
    // 500 expected per digit; a biased generator would miss this by far
    assert!(
        first_digits.iter().all(|n| (400..600).contains(n)),
        "{first_digits:?}"
    );
    assert_eq!(k.derive_code(&[1; 16], 8).len(), 8);
}

#[test]
fn another_pepper_derives_other_codes_and_hashes() {
    let a = OtpKeys::new(&[1; KEY_LEN]);
    let b = OtpKeys::new(&[2; KEY_LEN]);
    assert_ne!(a.derive_code(&[9; 16], 6), b.derive_code(&[9; 16], 6));
    assert_ne!(a.hash(&token(1), "123456"), b.hash(&token(1), "123456"));
    assert_ne!(
        a.hash(&token(1), "123456"),
        a.hash(&token(2), "123456"),
        "bound to the token"
    );
}

#[test]
fn a_resend_while_live_is_the_same_code_and_a_new_one_after_expiry() {
    let mut s = OtpSessionState::default();
    let first = sms(s.send(0, Purpose::Login, fresh(1), &keys(), &POLICY, None));
    assert!(first.is_new);
    let again = sms(s.send(40_000, Purpose::Login, fresh(2), &keys(), &POLICY, None));
    assert!(!again.is_new);
    assert_eq!(code_of(&again.code), code_of(&first.code));
    let other = sms(s.send(80_000, Purpose::Register, fresh(3), &keys(), &POLICY, None));
    assert!(other.is_new, "one live code per purpose");
    let after = sms(s.send(600_000, Purpose::Login, fresh(4), &keys(), &POLICY, None));
    assert!(after.is_new);
    assert_eq!(after.code.token_id, token(4));
}

#[test]
fn resends_inside_the_cooldown_or_past_the_per_code_budget_are_held_and_change_nothing() {
    let mut s = OtpSessionState::default();
    let k = keys();
    let first = sms(s.send(0, Purpose::Login, fresh(1), &k, &POLICY, None));
    assert_eq!(first.code.sms_sent, 1);
    let before = s.clone();
    assert_eq!(
        s.send(10_000, Purpose::Login, fresh(2), &k, &POLICY, None),
        Ok(Sending::Held(Hold::Limit(Throttle::Cooldown {
            retry_after_ms: 20_000
        })))
    );
    assert_eq!(s, before, "a held resend records nothing");
    assert_eq!(
        sms(s.send(30_000, Purpose::Login, fresh(3), &k, &POLICY, None))
            .code
            .sms_sent,
        2
    );
    let third = sms(s.send(65_000, Purpose::Login, fresh(4), &k, &POLICY, None));
    assert_eq!((third.code.token_id, third.code.sms_sent), (token(1), 3));
    let before = s.clone();
    for t in [100_000, 200_000, 599_999] {
        let held = s
            .send(t, Purpose::Login, fresh(5), &k, &POLICY, None)
            .unwrap();
        assert_eq!(held, Sending::Held(Hold::PerCode));
    }
    assert_eq!(s, before);
    assert_eq!(s.sends, [0, 30_000, 65_000], "only SMS sent are recorded");
    assert!(
        s.validate(599_999, None, &code_of(&first.code), &keys())
            .is_ok(),
        "the code the client holds still works"
    );
}

/// Sends a new code at `t` and uses it, so the next send needs a new code again.
fn send_and_use(s: &mut OtpSessionState, t: i64) -> Result<(), Throttle> {
    let sent = s
        .send(t, Purpose::Login, fresh(1), &keys(), &POLICY, None)?
        .into_sms()
        .expect("no live code to hold");
    s.validate(t, None, &code_of(&sent.code), &keys())
        .expect("right code");
    Ok(())
}

#[test]
fn a_new_code_is_refused_by_the_cooldown_and_the_caps_on_sms_sent() {
    let mut s = OtpSessionState::default();
    send_and_use(&mut s, 0).unwrap();
    assert_eq!(
        send_and_use(&mut s, 10_000),
        Err(Throttle::Cooldown {
            retry_after_ms: 20_000
        })
    );
    for i in 1..5 {
        send_and_use(&mut s, i * 60_000).unwrap();
    }
    // five SMS in the hour: the sixth waits until the first leaves the window
    assert_eq!(
        send_and_use(&mut s, 300_000),
        Err(Throttle::Hourly {
            retry_after_ms: 3_300_000
        })
    );
    for i in 0..5 {
        send_and_use(&mut s, HOUR_MS + i * 60_000).unwrap();
    }
    let err = send_and_use(&mut s, 2 * HOUR_MS + 600_000).unwrap_err();
    assert_eq!(
        err,
        Throttle::Daily {
            retry_after_ms: DAY_MS - 2 * HOUR_MS - 600_000
        }
    );
    assert_eq!(err.reason(), "daily_cap");
    assert!(
        send_and_use(&mut s, DAY_MS + 300_000).is_ok(),
        "a day later the window has moved"
    );
}

#[test]
fn a_cap_reached_while_a_code_lives_holds_its_resends() {
    let mut s = OtpSessionState::default();
    let k = keys();
    for t in [0, 60_000, 120_000, 180_000] {
        send_and_use(&mut s, t).unwrap();
    }
    let live = sms(s.send(240_000, Purpose::Login, fresh(9), &k, &POLICY, None));
    assert_eq!(s.sends.len(), 5);
    assert_eq!(
        s.send(300_000, Purpose::Login, fresh(10), &k, &POLICY, None),
        Ok(Sending::Held(Hold::Limit(Throttle::Hourly {
            retry_after_ms: HOUR_MS - 300_000
        })))
    );
    assert_eq!(
        s.send(300_000, Purpose::Register, fresh(11), &k, &POLICY, None),
        Err(Throttle::Hourly {
            retry_after_ms: HOUR_MS - 300_000
        }),
        "a purpose with no live code needs a new SMS: refused"
    );
    assert!(s.validate(301_000, None, &code_of(&live.code), &k).is_ok());
}

#[test]
fn the_per_ip_cap_holds_a_resend_and_refuses_a_new_code() {
    let mut s = OtpSessionState::default();
    let k = keys();
    let live = sms(s.send(0, Purpose::Login, fresh(1), &k, &POLICY, None));
    let before = s.clone();
    assert_eq!(
        s.send(
            40_000,
            Purpose::Login,
            fresh(2),
            &k,
            &POLICY,
            Some(Throttle::Ip {
                retry_after_ms: 9_000
            })
        ),
        Ok(Sending::Held(Hold::Limit(Throttle::Ip {
            retry_after_ms: 9_000
        })))
    );
    assert_eq!(
        s.send(
            40_000,
            Purpose::Register,
            fresh(3),
            &k,
            &POLICY,
            Some(Throttle::Prefix {
                retry_after_ms: 9_000
            })
        ),
        Err(Throttle::Prefix {
            retry_after_ms: 9_000
        }),
        "a cap outside the session refuses a new code the same way"
    );
    assert_eq!(s, before, "nothing recorded");
    assert_eq!(Throttle::Ip { retry_after_ms: 1 }.reason(), "ip_cap");
    assert!(s.validate(41_000, None, &code_of(&live.code), &k).is_ok());
}

#[test]
fn a_refused_send_changes_nothing() {
    let mut s = OtpSessionState::default();
    sms(s.send(0, Purpose::Login, fresh(1), &keys(), &POLICY, None));
    let before = s.clone();
    assert!(
        s.send(1, Purpose::Register, fresh(2), &keys(), &POLICY, None)
            .is_err()
    );
    assert_eq!(s, before);
}

#[test]
fn the_right_code_validates_once() {
    let mut s = OtpSessionState::default();
    let sent = sms(s.send(0, Purpose::Login, fresh(1), &keys(), &POLICY, None));
    let code = code_of(&sent.code);
    assert_eq!(
        s.validate(1000, Some(Purpose::Login), &code, &keys())
            .unwrap()
            .token_id,
        token(1)
    );
    assert!(
        s.validate(2000, Some(Purpose::Login), &code, &keys())
            .is_err()
    );
    assert_eq!(s.token_status(&token(1)), Some(true));
}

#[test]
fn wrong_tries_kill_the_code_after_max_attempts() {
    let mut s = OtpSessionState::default();
    let sent = sms(s.send(0, Purpose::Login, fresh(1), &keys(), &POLICY, None));
    let code = code_of(&sent.code);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        assert_eq!(
            s.validate(1, None, wrong, &keys()),
            Err(Invalid {
                exhausted: vec![],
                tries_spent: true
            })
        );
    }
    assert_eq!(
        s.validate(1, None, wrong, &keys()),
        Err(Invalid {
            exhausted: vec![Purpose::Login],
            tries_spent: true
        })
    );
    let dead = s.clone();
    assert_eq!(
        s.validate(1, None, &code, &keys()),
        Err(Invalid {
            exhausted: vec![],
            tries_spent: false
        }),
        "dead after five wrong tries: nothing left to try"
    );
    assert_eq!(s, dead, "a miss with no live code changes nothing");
    assert_eq!(s.token_status(&token(1)), None);
}

#[test]
fn an_expired_code_does_not_validate() {
    let mut s = OtpSessionState::default();
    let sent = sms(s.send(0, Purpose::Register, fresh(1), &keys(), &POLICY, None));
    let code = code_of(&sent.code);
    assert!(s.validate(600_000, None, &code, &keys()).is_err());
    assert!(s.codes.is_empty());
}

#[test]
fn validation_by_purpose_leaves_other_codes_alone() {
    let mut s = OtpSessionState::default();
    let login = sms(s.send(0, Purpose::Login, fresh(1), &keys(), &POLICY, None));
    sms(s.send(60_000, Purpose::Register, fresh(2), &keys(), &POLICY, None));
    assert!(
        s.validate(
            61_000,
            Some(Purpose::Register),
            &code_of(&login.code),
            &keys()
        )
        .is_err()
    );
    assert_eq!(s.codes.get(Purpose::Register).unwrap().tries_left, 4);
    assert_eq!(s.codes.get(Purpose::Login).unwrap().tries_left, 5);
    assert!(
        s.validate(62_000, None, &code_of(&login.code), &keys())
            .is_ok(),
        "any purpose when none is named"
    );
}

#[test]
fn idle_and_deadlines() {
    let mut s = OtpSessionState::default();
    assert!(s.is_idle());
    assert_eq!(s.next_deadline(), None);
    sms(s.send(1000, Purpose::Login, fresh(1), &keys(), &POLICY, None));
    assert_eq!(s.next_deadline(), Some(601_000));
    s.expire(601_000);
    assert!(
        s.codes.is_empty() && !s.is_idle(),
        "the send history is kept for the day"
    );
    s.expire(1000 + DAY_MS);
    assert!(s.is_idle());
}

#[test]
fn direct_codes_skip_the_send_limits() {
    let mut s = OtpSessionState::default();
    let a = s.issue_direct(0, fresh(1), &keys(), &POLICY);
    let b = s.issue_direct(1, fresh(2), &keys(), &POLICY);
    assert_ne!(a.token_id, b.token_id);
    assert!(s.sends.is_empty());
    assert!(s.validate(2, None, &code_of(&b), &keys()).is_ok());
}

#[test]
fn stored_hashes_keep_their_format_the_hyphenated_token_id_under_the_hash_key() {
    // computed independently (Python's hmac): key = HMAC(pepper, "digit-user otp code hash"),
    // hash = HMAC(key, be64(len(id)) || id || code) with the id as the hyphenated lowercase string
    let expected = "045a152441d3a6f447ede65e85eba26bd872a55d734a7e243f82c555773d8480";
    let id = uuid::Uuid::parse_str("5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f70").unwrap();
    let hash = keys().hash(&id, "123456");
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
}
