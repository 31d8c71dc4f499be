//! The OTP session actors through their router: sends, limits, expiry, tries, concurrency, idle stop and
//! reload from sled. Time, and every timer of the sessions, moves only through the injected manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod codes;
mod lifecycle;
mod strangers;

use ::actors::Clock;
use ::actors::domain::messages::MessageCatalogs;
use ::actors::domain::notification::Channel;
use ::actors::domain::otp::{Hold, OtpKeys, OtpPolicy, Purpose, Throttle};
use ::actors::otp_session::{
    CreateDirect, Recipients, SendError, SendOtp, SessionDeps, TEST_TOKEN, TestCode, TokenStatus,
    ValidateError, ValidateOtp,
};
use ::actors::router::{LiveSessions, Router, RouterLimits, ToSession};
use ::actors::seal::KEY_LEN;
use ::actors::store::{SessionKey, Store, TokenOwner};
use actix::prelude::*;

/// Home partition the rig's sends claim (any value; the token ids must carry it).
const HOME: u16 = 77;

const POLICY: OtpPolicy = ::actors::testing::OTP_POLICY;

struct Rig {
    router: Addr<Router>,
    store: Arc<Store>,
    clock: Clock,
    key: SessionKey,
}

fn open(dir: &std::path::Path) -> Arc<Store> {
    ::actors::testing::open_store(dir)
}

fn rig(store: Arc<Store>, clock: Clock, idle: Duration) -> Rig {
    rig_with(store, clock, idle, std::collections::HashMap::new())
}

fn rig_with(
    store: Arc<Store>,
    clock: Clock,
    idle: Duration,
    test_codes: std::collections::HashMap<SessionKey, TestCode>,
) -> Rig {
    rig_under(store, clock, idle, test_codes, POLICY)
}

fn rig_under(
    store: Arc<Store>,
    clock: Clock,
    idle: Duration,
    test_codes: std::collections::HashMap<SessionKey, TestCode>,
    policy: OtpPolicy,
) -> Rig {
    let catalogs = MessageCatalogs::new(
        BTreeMap::from([(
            "en_IN".to_owned(),
            BTreeMap::from([(
                "sms.login.otp.msg".to_owned(),
                "Your Login OTP is %s.".to_owned(),
            )]),
        )]),
        "en_IN",
        ::actors::domain::messages::SmsCodes::default(),
    )
    .unwrap();
    let deps = Arc::new(SessionDeps {
        store: store.clone(),
        keys: OtpKeys::new(&[9; KEY_LEN]),
        policy,
        catalogs,
        clock: clock.clone(),
        idle,
        test_codes,
        tenant_labels: ::actors::metrics::TenantLabels::new(["pb".to_owned()]),
    });
    let key = store.otp().session_key("pb", "9876543210");
    let limits = RouterLimits {
        max_sessions: 1000,
        timeout: Duration::from_secs(5),
    };
    Rig {
        router: Router::new(deps, limits).start(),
        store,
        clock,
        key,
    }
}

fn owner() -> TokenOwner {
    TokenOwner {
        identity: "9876543210".into(),
        tenant: "pb".into(),
    }
}

fn to() -> Recipients {
    Recipients {
        mobile: "9876543210".into(),
        country_code: Some("+91".into()),
        email: Some("asha@example.org".into()),
        locale: None,
        tenant: Some("pb.amritsar".into()),
        first_time: false,
    }
}

impl Rig {
    async fn send(
        &self,
        purpose: Purpose,
    ) -> Result<::actors::otp_session::SendReceipt, SendError> {
        self.send_from(purpose, None).await
    }

    async fn send_from(
        &self,
        purpose: Purpose,
        source: Option<std::net::IpAddr>,
    ) -> Result<::actors::otp_session::SendReceipt, SendError> {
        self.router
            .send(ToSession {
                key: self.key,
                msg: SendOtp {
                    purpose,
                    to: to(),
                    tenant: "pb".into(),
                    home: ::actors::partition::Partition(HOME),
                    outside: None,
                    source,
                },
            })
            .await
            .unwrap()
            .unwrap()
    }

    async fn validate(
        &self,
        purpose: Option<Purpose>,
        code: &str,
    ) -> Result<String, ValidateError> {
        self.validate_from(purpose, code, None).await
    }

    async fn validate_from(
        &self,
        purpose: Option<Purpose>,
        code: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<String, ValidateError> {
        self.router
            .send(ToSession {
                key: self.key,
                msg: ValidateOtp {
                    purpose,
                    code: code.to_owned(),
                    owner: owner(),
                    source,
                },
            })
            .await
            .unwrap()
            .unwrap()
    }

    /// The code of the newest SMS in the outbox (what the citizen receives).
    fn last_sms_code(&self) -> String {
        let batch = self.store.outbox().waiting(1000).unwrap();
        let sms = batch
            .iter()
            .rev()
            .find(|(_, r)| r.channel() == Channel::Sms)
            .expect("an sms");
        let text = sms.1.notification.text();
        text.chars().filter(char::is_ascii_digit).collect()
    }

    async fn live(&self) -> usize {
        self.router.send(LiveSessions).await.unwrap()
    }

    /// Moves the clock by `by`, then answers the live sessions once the timers it reached had their turn:
    /// the sessions run on this test's arbiter, and a session woken by the clock is served before the
    /// router's answer to the question asked after it.
    async fn live_after(&self, by: Duration) -> usize {
        self.clock.advance(by);
        self.live().await
    }

    /// Waits until `n` sessions are live (the timers a clock advance reached stop theirs on their own turn).
    async fn until_live(&self, n: usize) {
        ::actors::testing::eventually(&format!("{n} live sessions"), || async {
            self.live().await == n
        })
        .await;
    }
}

fn wrong(code: &str) -> String {
    if code == "000000" {
        "000001".into()
    } else {
        "000000".into()
    }
}
