//! Sessions and the router: idle stops, the bound on live sessions.

use super::*;

#[actix::test]
async fn an_idle_session_stops_exactly_after_its_idle_period() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    // a session that holds something (a send, a used code) but no live code; one holding nothing at all
    // stops within a second instead (a_session_with_nothing_in_it_stops_within_a_second_…)
    r.send(Purpose::Login).await.unwrap();
    r.validate(None, &r.last_sms_code()).await.unwrap();
    let status = r
        .router
        .send(ToSession {
            key: r.key,
            msg: TokenStatus(uuid::Uuid::from_bytes([9; 16])),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, None);
    assert_eq!(r.live().await, 1);
    assert_eq!(
        r.live_after(Duration::from_millis(59_999)).await,
        1,
        "still within the idle period"
    );
    r.clock.advance(Duration::from_millis(1));
    r.until_live(0).await; // stopped once idle for 60 s
}

#[actix::test]
async fn past_max_sessions_new_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let router = {
        // a router bounded to two live sessions
        let catalogs = MessageCatalogs::new(
            BTreeMap::from([("en_IN".to_owned(), BTreeMap::new())]),
            "en_IN",
            ::actors::domain::messages::SmsCodes::default(),
        )
        .unwrap();
        let deps = Arc::new(SessionDeps {
            store: store.clone(),
            keys: OtpKeys::new(&[9; KEY_LEN]),
            policy: POLICY,
            catalogs,
            clock: Clock::manual(0),
            idle: Duration::from_secs(60),
            test_codes: Default::default(),
            tenant_labels: ::actors::metrics::TenantLabels::new(["pb".to_owned()]),
        });
        let limits = RouterLimits {
            max_sessions: 2,
            timeout: Duration::from_secs(5),
        };
        Router::new(deps, limits).start()
    };
    let status = |mobile: &str| ToSession {
        key: store.otp().session_key("pb", mobile),
        msg: TokenStatus(uuid::Uuid::from_bytes([8; 16])),
    };
    assert!(router.send(status("9000000001")).await.unwrap().is_ok());
    assert!(router.send(status("9000000002")).await.unwrap().is_ok());
    assert_eq!(
        router.send(status("9000000003")).await.unwrap(),
        Err(::actors::directory::Unreachable::Busy)
    );
    assert!(
        router.send(status("9000000001")).await.unwrap().is_ok(),
        "a live session is still served"
    );
}

#[actix::test]
async fn a_session_with_nothing_in_it_stops_within_a_second_whatever_the_idle_setting() {
    let dir = tempfile::tempdir().unwrap();
    let r = rig(open(dir.path()), Clock::manual(0), Duration::from_secs(60));
    // a validation for a number that never had a code: the session holds nothing
    assert!(matches!(
        r.validate(None, "123456").await,
        Err(ValidateError::Invalid(_))
    ));
    assert_eq!(r.live().await, 1);
    assert_eq!(
        r.live_after(Duration::from_millis(999)).await,
        1,
        "1 ms early"
    );
    r.clock.advance(Duration::from_millis(1));
    r.until_live(0).await; // not kept for the 60 s idle time
    // one with a live code stays
    r.send(Purpose::Login).await.unwrap();
    assert_eq!(r.live_after(Duration::from_millis(1500)).await, 1);
}
