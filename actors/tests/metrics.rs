//! The domain records its metrics with bounded labels only. One test per binary: the recorder is global.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ::actors::Clock;
use ::actors::domain::messages::MessageCatalogs;
use ::actors::domain::otp::{OtpKeys, OtpPolicy, Purpose, Throttle};
use ::actors::metrics as m;
use ::actors::notifier::{Drain, Notifier, NotifierConfig};
use ::actors::otp_session::{Recipients, SendOtp, SessionDeps, ValidateOtp};
use ::actors::router::{Router, RouterLimits, ToSession};
use ::actors::seal::KEY_LEN;
use ::actors::sink::FileSink;
use ::actors::store::TokenOwner;
use actix::prelude::*;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[actix::test]
async fn sends_validations_throttles_sessions_and_deliveries_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();
    m::describe();

    let dir = tempfile::tempdir().unwrap();
    let store = ::actors::testing::open_store(&dir.path().join("data"));
    let catalogs = MessageCatalogs::new(
        BTreeMap::from([("en_IN".to_owned(), BTreeMap::new())]),
        "en_IN",
        ::actors::domain::messages::SmsCodes::default(),
    )
    .unwrap();
    let policy = OtpPolicy {
        length: 6,
        ttl_ms: 600_000,
        max_attempts: 1,
        attempts_per_source: 1,
        sends_per_source: 5,
        max_sources: 16,
        cooldown_ms: 30_000,
        per_hour: 5,
        per_day: 10,
        sms_per_code: 3,
    };
    let clock = Clock::manual(0);
    let deps = Arc::new(SessionDeps {
        store: store.clone(),
        keys: OtpKeys::new(&[9; KEY_LEN]),
        policy,
        catalogs,
        clock: clock.clone(),
        idle: Duration::from_secs(60),
        test_codes: Default::default(),
        tenant_labels: ::actors::metrics::TenantLabels::new(["pb".to_owned()]),
    });
    let limits = RouterLimits {
        max_sessions: 10,
        timeout: Duration::from_secs(5),
    };
    let router = Router::new(deps, limits).start();
    let key = store.otp().session_key("pb", "9876543210");
    let to = Recipients {
        mobile: "9876543210".into(),
        country_code: None,
        email: Some("a@example.org".into()),
        locale: None,
        tenant: None,
        first_time: false,
    };
    let owner = TokenOwner {
        identity: "9876543210".into(),
        tenant: "pb".into(),
    };
    // the client's address is counted in memory and shows in no label
    let client: std::net::IpAddr = [192, 0, 2, 1].into();
    let send_with = |purpose: Purpose, outside: Option<Throttle>| ToSession {
        key,
        msg: SendOtp {
            purpose,
            to: to.clone(),
            tenant: "pb".into(),
            home: ::actors::partition::Partition(0),
            outside,
            source: Some(client),
        },
    };
    let send_for = |purpose: Purpose| send_with(purpose, None);
    let send = || send_for(Purpose::Login);
    router.send(send()).await.unwrap().unwrap().unwrap();
    let held = router.send(send()).await.unwrap().unwrap().unwrap();
    assert_eq!(held.held.map(|h| h.reason()), Some("cooldown"));
    assert!(
        router
            .send(send_for(Purpose::Register))
            .await
            .unwrap()
            .unwrap()
            .is_err_and(|e| matches!(
                e,
                ::actors::otp_session::SendError::Throttled(
                    ::actors::domain::otp::Throttle::Cooldown { .. }
                )
            )),
        "cooldown for a new code"
    );
    // past the cooldown, the client's address at its cap: a resend is held, a new code refused
    clock.advance_ms(31_000);
    let held = router
        .send(send_with(
            Purpose::Login,
            Some(Throttle::Ip {
                retry_after_ms: 1_000,
            }),
        ))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(held.held.map(|h| h.reason()), Some("ip_cap"));
    assert!(
        router
            .send(send_with(
                Purpose::PasswordReset,
                Some(Throttle::Ip {
                    retry_after_ms: 1_000
                })
            ))
            .await
            .unwrap()
            .unwrap()
            .is_err_and(|e| matches!(
                e,
                ::actors::otp_session::SendError::Throttled(
                    ::actors::domain::otp::Throttle::Ip { .. }
                )
            ))
    );
    router
        .send(ToSession {
            key,
            msg: ValidateOtp {
                purpose: None,
                code: "000000x".into(),
                owner: owner.clone(),
                source: Some(client),
            },
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let notifier = Notifier::new(
        store.clone(),
        Arc::new(FileSink::new(dir.path().join("n.jsonl"))),
        clock.clone(),
        NotifierConfig {
            batch: 8,
            poll: Duration::from_secs(60),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(10),
            sms_expiry_ms: 3000,
        },
    )
    .start();
    assert_eq!(
        notifier
            .send(Drain {
                within: Duration::from_secs(2)
            })
            .await
            .unwrap(),
        0
    );

    let mut seen: BTreeMap<(String, Vec<(String, String)>), f64> = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = (key.kind(), key.key());
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        for (_, v) in &labels {
            assert!(
                !v.contains("9876543210") && !v.contains("192.0.2.1"),
                "unbounded label value {v:?}"
            );
        }
        let n = match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(c)) => c as f64,
            (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
            (MetricKind::Histogram, DebugValue::Histogram(h)) => h.len() as f64,
            _ => continue,
        };
        seen.insert((key.name().to_owned(), labels), n);
    }
    let get = |name: &str, labels: &[(&str, &str)]| {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        seen.get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or_else(|| panic!("no {name} {seen:#?}"))
    };
    assert_eq!(
        get(
            m::OTP_SENDS,
            &[("purpose", "login"), ("tenant", "pb"), ("result", "new")]
        ),
        1.0
    );
    assert_eq!(
        get(
            m::OTP_SENDS,
            &[
                ("purpose", "register"),
                ("tenant", "pb"),
                ("result", "throttled")
            ]
        ),
        1.0
    );
    assert_eq!(
        get(
            m::OTP_SENDS,
            &[("purpose", "login"), ("tenant", "pb"), ("result", "held")]
        ),
        2.0,
        "one held by the cooldown, one by the client's cap"
    );
    assert_eq!(get(m::OTP_THROTTLED, &[("reason", "cooldown")]), 1.0);
    assert_eq!(get(m::OTP_RESENDS_HELD, &[("reason", "cooldown")]), 1.0);
    assert_eq!(get(m::OTP_RESENDS_HELD, &[("reason", "ip_cap")]), 1.0);
    assert_eq!(get(m::OTP_THROTTLED, &[("reason", "ip_cap")]), 1.0);
    assert_eq!(
        get(
            m::OTP_NOTIFICATIONS_QUEUED,
            &[("purpose", "login"), ("tenant", "pb"), ("channel", "sms")]
        ),
        1.0
    );
    assert_eq!(
        get(
            m::OTP_NOTIFICATIONS_QUEUED,
            &[("purpose", "login"), ("tenant", "pb"), ("channel", "email")]
        ),
        1.0
    );
    assert_eq!(
        get(
            m::OTP_VALIDATIONS,
            &[
                ("purpose", "any"),
                ("tenant", "pb"),
                ("result", "exhausted")
            ]
        ),
        1.0
    );
    assert_eq!(get(m::OTP_SESSIONS_LIVE, &[]), 1.0);
    assert_eq!(
        get(
            m::NOTIFICATIONS_DELIVERED,
            &[
                ("channel", "sms"),
                ("sink", "file"),
                ("purpose", "login"),
                ("tenant", "pb"),
                ("result", "delivered")
            ]
        ),
        1.0
    );
    assert_eq!(
        get(
            m::NOTIFICATIONS_DELIVERED,
            &[
                ("channel", "email"),
                ("sink", "file"),
                ("purpose", "login"),
                ("tenant", "pb"),
                ("result", "delivered")
            ]
        ),
        1.0
    );
    assert_eq!(
        get(m::NOTIFICATION_DELIVERY_SECONDS, &[("channel", "sms")]),
        1.0
    );
    assert_eq!(get(m::OUTBOX_DEPTH, &[]), 0.0);
}
