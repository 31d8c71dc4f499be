//! Codes: sending, resending, holding, validating, expiring, direct codes and test numbers.

use super::*;

#[actix::test]
async fn a_sent_code_validates_exactly_once_and_payloads_match_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(
        open(dir.path()),
        Clock::manual(1_000),
        Duration::from_secs(60),
    );
    let receipt = r.send(Purpose::Login).await.unwrap();
    assert!(receipt.is_new);
    assert_eq!(receipt.queued, 2, "sms and e-mail for login");
    let batch = r.store.outbox().waiting(10).unwrap();
    let sms = &batch[0].1.notification.to_digit_json(0);
    let code = r.last_sms_code();
    assert_eq!(code.len(), 6);
    assert_eq!(sms["message"], format!("Your Login OTP is {code}."));
    assert_eq!(
        (
            sms["category"].as_str(),
            sms["countryCode"].as_str(),
            sms["mobileNumber"].as_str()
        ),
        (Some("OTP"), Some("+91"), Some("9876543210"))
    );
    let email = &batch[1].1.notification.to_digit_json(0);
    assert_eq!(email["email"]["emailTo"][0], "asha@example.org");
    assert_eq!(email["email"]["subject"], "Login OTP");
    assert_eq!(
        email["email"]["body"],
        format!("Dear Citizen, Your Login OTP is {code}.")
    );
    assert!(
        email["requestInfo"]
            .as_object()
            .unwrap()
            .values()
            .all(serde_json::Value::is_null)
    );
    assert_ne!(batch[0].1.message_id, batch[1].1.message_id);

    let token: uuid::Uuid = receipt.token_id.parse().unwrap();
    assert_eq!(
        ::actors::partition::partition_of_uuid(&token).0,
        HOME,
        "the token id carries the session's home partition, so /otp/v1/_search routes"
    );
    assert_eq!(
        r.validate(Some(Purpose::Login), &code).await.unwrap(),
        receipt.token_id
    );
    assert!(matches!(
        r.validate(Some(Purpose::Login), &code).await,
        Err(ValidateError::Invalid(_))
    ));
    let status = r
        .router
        .send(ToSession {
            key: r.key,
            msg: TokenStatus(receipt.token_id.parse().unwrap()),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, Some(true));
}

#[actix::test]
async fn register_sends_no_email_and_a_resend_is_the_same_code() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    let first = r.send(Purpose::Register).await.unwrap();
    assert_eq!(first.queued, 1);
    let code = r.last_sms_code();
    r.clock.advance_ms(31_000);
    let again = r.send(Purpose::Register).await.unwrap();
    assert!(!again.is_new);
    assert_eq!(again.token_id, first.token_id);
    assert_eq!(r.last_sms_code(), code);
    assert_eq!(r.store.outbox().depth(), 2);
}

#[actix::test]
async fn held_resends_and_refused_new_codes_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    let first = r.send(Purpose::Register).await.unwrap();
    let code = r.last_sms_code();
    r.clock.advance_ms(5_000);
    let held = r.send(Purpose::Register).await.unwrap();
    assert_eq!(
        (held.queued, held.held.map(Hold::reason)),
        (0, Some("cooldown"))
    );
    assert_eq!(held.token_id, first.token_id, "the same live code");
    for _ in 0..2 {
        r.clock.advance_ms(30_000);
        assert_eq!(r.send(Purpose::Register).await.unwrap().queued, 1);
    }
    r.clock.advance_ms(10_000);
    let held = r.send(Purpose::Register).await.unwrap();
    assert_eq!(
        (held.queued, held.held.map(Hold::reason)),
        (0, Some("per_code"))
    );
    assert_eq!(r.store.outbox().depth(), 3, "three SMS for one code");
    assert_eq!(r.last_sms_code(), code);

    // once the code is used, the next one is new and the limits can refuse it
    r.validate(None, &code).await.unwrap();
    r.clock.advance_ms(5_000);
    match r.send(Purpose::Register).await {
        Err(SendError::Throttled(Throttle::Cooldown { retry_after_ms })) => {
            assert_eq!(retry_after_ms, 15_000)
        }
        other => panic!("{other:?}"),
    }
    for _ in 0..2 {
        r.clock.advance_ms(30_000);
        r.send(Purpose::Register).await.unwrap();
        r.validate(None, &r.last_sms_code()).await.unwrap();
    }
    r.clock.advance_ms(30_000);
    assert!(matches!(
        r.send(Purpose::Register).await,
        Err(SendError::Throttled(Throttle::Hourly { .. }))
    ));
    assert_eq!(r.store.outbox().depth(), 5, "refused sends queue nothing");
}

#[actix::test]
async fn expired_codes_and_exhausted_tries() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    r.send(Purpose::Login).await.unwrap();
    let code = r.last_sms_code();
    r.clock.advance_ms(600_000);
    assert!(
        matches!(
            r.validate(None, &code).await,
            Err(ValidateError::Invalid(_))
        ),
        "expired after the ttl"
    );

    r.send(Purpose::Login).await.unwrap();
    let code = r.last_sms_code();
    for _ in 0..5 {
        assert!(matches!(
            r.validate(None, &wrong(&code)).await,
            Err(ValidateError::Invalid(_))
        ));
    }
    assert!(
        matches!(
            r.validate(None, &code).await,
            Err(ValidateError::Invalid(_))
        ),
        "dead after 5 wrong tries"
    );
}

#[actix::test]
async fn fifty_concurrent_validations_of_one_code_let_exactly_one_win() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    r.send(Purpose::Login).await.unwrap();
    let code = r.last_sms_code();
    let tries: Vec<_> = (0..50)
        .map(|_| {
            r.router.send(ToSession {
                key: r.key,
                msg: ValidateOtp {
                    purpose: None,
                    code: code.clone(),
                    owner: owner(),
                    source: None,
                },
            })
        })
        .collect();
    let wins = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|res| matches!(res, Ok(Ok(Ok(_)))))
        .count();
    assert_eq!(wins, 1);
}

#[actix::test]
async fn twenty_concurrent_wrong_tries_kill_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    r.send(Purpose::Login).await.unwrap();
    let code = r.last_sms_code();
    let tries: Vec<_> = (0..20)
        .map(|_| {
            r.router.send(ToSession {
                key: r.key,
                msg: ValidateOtp {
                    purpose: None,
                    code: wrong(&code),
                    owner: owner(),
                    source: None,
                },
            })
        })
        .collect();
    futures_util::future::join_all(tries).await;
    assert!(matches!(
        r.validate(None, &code).await,
        Err(ValidateError::Invalid(_))
    ));
}

#[actix::test]
async fn an_idle_session_stops_and_its_state_comes_back_from_sled() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = rig(store.clone(), Clock::manual(0), Duration::from_millis(100));
    r.send(Purpose::Login).await.unwrap();
    let code = r.last_sms_code();
    r.validate(None, &code).await.unwrap();
    assert_eq!(r.live().await, 1);
    assert_eq!(
        r.live_after(Duration::from_millis(99)).await,
        1,
        "1 ms early"
    );
    r.clock.advance(Duration::from_millis(1));
    r.until_live(0).await; // no live code: the session stopped after its idle time
    // a new session reads the send history back: the cooldown still holds
    r.clock.advance_ms(10_000);
    assert!(matches!(
        r.send(Purpose::Login).await,
        Err(SendError::Throttled(Throttle::Cooldown { .. }))
    ));
}

#[actix::test]
async fn a_live_code_survives_a_new_router_over_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let clock = Clock::manual(0);
    let first = rig(store.clone(), clock.clone(), Duration::from_secs(60));
    first.send(Purpose::Login).await.unwrap();
    let code = first.last_sms_code();
    drop(first);
    let second = rig(store, clock, Duration::from_secs(60));
    assert!(second.validate(Some(Purpose::Login), &code).await.is_ok());
}

/// A code sent through one router and validated through another over the same store (the pod it moved to,
/// whose change the journal brought back); the first router, and the code.
async fn spent_elsewhere(store: Arc<Store>, clock: &Clock) -> (Rig, String) {
    let here = rig(store.clone(), clock.clone(), Duration::from_secs(60));
    here.send(Purpose::Login).await.unwrap();
    let code = here.last_sms_code();
    let elsewhere = rig(store, clock.clone(), Duration::from_secs(60));
    assert!(
        elsewhere
            .validate(Some(Purpose::Login), &code)
            .await
            .is_ok()
    );
    (here, code)
}

#[actix::test]
async fn a_released_session_reads_what_another_pod_did_with_its_code() {
    let clock = Clock::manual(0);
    // the control: a session actor that lived through the move still holds the spent code
    let dir = tempfile::tempdir().unwrap();
    let (stale, code) = spent_elsewhere(open(dir.path()), &clock).await;
    assert!(
        stale.validate(Some(Purpose::Login), &code).await.is_ok(),
        "an actor not released answers from what it held (why a takeover releases them)"
    );

    // released at the takeover: a fresh actor reads the store, where the code is spent
    let dir = tempfile::tempdir().unwrap();
    let (here, code) = spent_elsewhere(open(dir.path()), &clock).await;
    let released = here
        .router
        .send(::actors::router::ReleaseSessions(
            [here.key.home].into_iter().collect(),
        ))
        .await
        .unwrap();
    assert_eq!(released, 1);
    assert!(here.validate(Some(Purpose::Login), &code).await.is_err());
}

#[actix::test]
async fn direct_codes_for_other_services() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    let (live, code) = r
        .router
        .send(ToSession {
            key: r.key,
            msg: CreateDirect(owner()),
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (key, who) = r
        .store
        .otp()
        .session_of_token(&live.token_id)
        .unwrap()
        .unwrap();
    assert_eq!((key, who), (r.key, owner()));
    let who = owner();
    assert_eq!(
        ::actors::partition::partition_of_uuid(&live.token_id),
        r.store.otp().home(&who.tenant, &who.identity),
        "a direct code's token id carries the home partition of (state, identity)"
    );
    assert_eq!(
        r.store.outbox().depth(),
        0,
        "nothing is sent for a direct code"
    );
    assert_eq!(
        r.validate(None, &code).await.unwrap(),
        live.token_id.to_string()
    );
}

#[actix::test]
async fn test_numbers_use_their_fixed_code_without_sms_until_their_date() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let key = store.otp().session_key("pb", "9876543210");
    let codes = std::collections::HashMap::from([(
        key,
        TestCode {
            code: "246810".into(),
            until_ms: 100_000,
            index: 0,
        },
    )]);
    let clock = Clock::manual(0);
    let r = rig_with(store, clock.clone(), Duration::from_secs(60), codes);
    let receipt = r.send(Purpose::Login).await.unwrap();
    assert_eq!((receipt.queued, receipt.token_id.as_str()), (0, TEST_TOKEN));
    assert_eq!(r.store.outbox().depth(), 0, "no sms to a test number");
    assert!(r.validate(Some(Purpose::Login), "246810").await.is_ok());
    assert!(
        r.validate(Some(Purpose::Login), "246810").await.is_ok(),
        "reusable while in force"
    );
    assert!(matches!(
        r.validate(Some(Purpose::Login), "135790").await,
        Err(ValidateError::Invalid(_))
    ));
    clock.advance_ms(100_001);
    assert!(
        matches!(
            r.validate(Some(Purpose::Login), "246810").await,
            Err(ValidateError::Invalid(_))
        ),
        "expired test number"
    );
    assert_eq!(
        r.send(Purpose::Login).await.unwrap().queued,
        2,
        "a normal number again"
    );
}
