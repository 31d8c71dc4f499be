//! What a stranger who knows a citizen's number can do to it: not burn the citizen's live code from one
//! address, not take all of the number's SMS; the code still dies at its total of wrong tries.

use super::*;

const CITIZEN: [u8; 4] = [203, 0, 113, 7];

fn from(address: [u8; 4]) -> Option<std::net::IpAddr> {
    Some(address.into())
}

fn stranger(n: u8) -> Option<std::net::IpAddr> {
    from([198, 51, 100, n])
}

/// 20 wrong tries in all, 5 from one address; 5 SMS an hour, 3 at one address's asking, 5 per code.
fn policy() -> OtpPolicy {
    OtpPolicy {
        max_attempts: 20,
        attempts_per_source: 5,
        sends_per_source: 3,
        sms_per_code: 5,
        ..POLICY
    }
}

fn rig_at(dir: &std::path::Path, clock: Clock) -> Rig {
    rig_under(
        open(dir),
        clock,
        Duration::from_secs(60),
        std::collections::HashMap::new(),
        policy(),
    )
}

#[actix::test]
async fn a_stranger_s_wrong_tries_leave_the_citizen_s_code_alive_and_write_nothing_once_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig_at(dir.path(), Clock::manual(0));
    r.send_from(Purpose::Login, from(CITIZEN)).await.unwrap();
    let code = r.last_sms_code();
    for _ in 0..5 {
        let miss = r
            .validate_from(None, &wrong(&code), stranger(1))
            .await
            .unwrap_err();
        assert!(matches!(miss, ValidateError::Invalid(i) if i.tries_spent));
    }
    let stored = ::actors::testing::contents(&r.store);
    for _ in 0..20 {
        let refused = r
            .validate_from(None, &wrong(&code), stranger(1))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ValidateError::Invalid(i) if !i.tries_spent),
            "refused unchecked"
        );
    }
    // even the right code is refused to the address that spent its tries: it guesses no further
    assert!(r.validate_from(None, &code, stranger(1)).await.is_err());
    assert_eq!(
        ::actors::testing::contents(&r.store),
        stored,
        "refusals write nothing"
    );
    r.validate_from(Some(Purpose::Login), &code, from(CITIZEN))
        .await
        .expect("the citizen's code survived the stranger");
}

#[actix::test]
async fn strangers_together_still_kill_a_code_at_its_total_of_wrong_tries() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig_at(dir.path(), Clock::manual(0));
    r.send_from(Purpose::Login, from(CITIZEN)).await.unwrap();
    let code = r.last_sms_code();
    for n in 1..=4 {
        for _ in 0..5 {
            let _ = r.validate_from(None, &wrong(&code), stranger(n)).await;
        }
    }
    assert!(
        r.validate_from(None, &code, from(CITIZEN)).await.is_err(),
        "20 wrong tries in all: the code is dead (the bound on guessing it)"
    );
}

#[actix::test]
async fn a_stranger_asking_codes_for_a_number_leaves_its_citizen_an_sms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(0);
    let r = rig_at(dir.path(), clock.clone());
    for _ in 0..3 {
        let sent = r.send_from(Purpose::Login, stranger(1)).await.unwrap();
        assert!(sent.queued > 0, "{sent:?}");
        clock.advance_ms(31_000);
    }
    let held = r.send_from(Purpose::Login, stranger(1)).await.unwrap();
    assert_eq!(
        (held.queued, held.held.map(Hold::reason)),
        (0, Some("source_cap")),
        "the stranger's share is spent: a resend is held"
    );
    let refused = r
        .send_from(Purpose::Register, stranger(1))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SendError::Throttled(Throttle::Source { .. })),
        "and a new code refused: {refused:?}"
    );
    let citizen = r.send_from(Purpose::Login, from(CITIZEN)).await.unwrap();
    assert!(
        citizen.queued > 0,
        "the citizen still gets the code: {citizen:?}"
    );
}
