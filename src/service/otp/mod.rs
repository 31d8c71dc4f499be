//! The OTP flows between the wire and the actors: user-otp's `_send` rules (contract 3.2–3.3) and egov-otp's
//! create / validate / search (2.3), each a message to the session of (state tenant, mobile number).

use std::net::IpAddr;
use std::sync::Arc;

use actix::Addr;
use actors::directory::Unreachable;
use actors::domain::mobile::MobileRules;
use actors::domain::otp::{LiveCode, Purpose, Throttle};
use actors::domain::{KnownStates, TenantId};
use actors::metrics::{OTP_SENDS_BY_DESTINATION, OTP_THROTTLED};
use actors::notifier::{Kick, Notifier};
use actors::otp_session::{
    CreateDirect, Recipients, SendError, SendOtp, SendReceipt, TokenStatus, ValidateError,
    ValidateOtp,
};
use actors::router::{ReleaseSessions, Router, TestNumberInForce, ToSession};
use actors::store::{SessionKey, Store, TokenOwner};

use crate::cluster::api::{OtpCheck, OtpSend};
use crate::cluster::{Cluster, Owner};
use crate::service::registry::Registry;

mod errors;
mod lookup;

pub use errors::{OtpError, SendRule};

/// A `/user-otp/v1/_send` request after parsing.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    /// `otp.tenantId`
    pub tenant: Option<String>,
    /// `otp.mobileNumber`
    pub mobile: Option<String>,
    /// `otp.type`
    pub send_type: Option<String>,
    /// `otp.userType`
    pub user_type: Option<String>,
    /// `otp.countryCode`
    pub country_code: Option<String>,
    /// Locale from `RequestInfo.msgId` or `otp.locale`.
    pub locale: Option<String>,
}

/// A `_send` request that passed its rules: the tenant normalised, its state served.
struct Asked<'a> {
    tenant: &'a str,
    state: String,
    mobile: &'a str,
    purpose: Purpose,
    country_code: Option<String>,
    user_type: Option<&'a str>,
    locale: Option<String>,
    source: Option<IpAddr>,
}

/// The rules the OTP flows apply besides the sessions' own limits.
pub struct OtpRules {
    /// Mobile-number rules per state.
    pub mobile: MobileRules,
    /// The states served.
    pub states: Arc<KnownStates>,
    /// Above this many waiting notifications, sends answer 503.
    pub max_outbox_depth: usize,
}

/// What a direct create answers.
pub struct Created {
    /// The live code.
    pub live: LiveCode,
    /// The code in clear (egov-otp's `_create` returns it; internal listener only).
    pub code: String,
    /// The state tenant.
    pub tenant: String,
}

/// The OTP service.
#[derive(Clone)]
pub struct OtpService {
    router: Addr<Router>,
    notifier: Addr<Notifier>,
    store: Arc<Store>,
    registry: Registry,
    rules: Arc<OtpRules>,
    cluster: Arc<Cluster>,
    tally: Arc<crate::service::tally::Tally>,
}

impl OtpService {
    /// The service over running actors.
    pub fn new(
        router: Addr<Router>,
        notifier: Addr<Notifier>,
        store: Arc<Store>,
        registry: Registry,
        rules: OtpRules,
        cluster: Arc<Cluster>,
        tally: Arc<crate::service::tally::Tally>,
    ) -> Self {
        Self {
            router,
            notifier,
            store,
            registry,
            rules: Arc::new(rules),
            cluster,
            tally,
        }
    }

    /// The state of `tenant`, normalised (`PB.Amritsar` → `pb`), when this deployment serves it: sessions
    /// and their counters are keyed by it, so no spelling and no made-up tenant opens another.
    fn served_state(&self, tenant: &str) -> Result<String, OtpError> {
        TenantId::parse(tenant)
            .ok()
            .filter(|t| self.rules.states.serves(t))
            .map(|t| t.state().to_string())
            .ok_or(OtpError::UnknownTenant)
    }

    fn key(&self, state: &str, mobile: &str) -> SessionKey {
        self.store.otp().session_key(state, mobile)
    }

    /// `/user-otp/v1/_send`.
    pub async fn send(&self, req: SendRequest, ip: Option<IpAddr>) -> Result<(), OtpError> {
        let tenant = req
            .tenant
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let mobile = req
            .mobile
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let purpose = Purpose::parse_send_type(req.send_type.as_deref());
        let mut rules = Vec::new();
        if tenant.is_none() {
            rules.push(SendRule::TenantMissing);
        }
        if mobile.is_none() {
            rules.push(SendRule::MobileMissing);
        }
        if purpose.is_none() {
            rules.push(SendRule::TypeInvalid);
        }
        let tenant = match tenant.map(TenantId::parse) {
            None => None,
            Some(Ok(t)) if self.rules.states.serves(&t) => Some(t),
            Some(_) => {
                rules.push(SendRule::TenantUnknown);
                None
            }
        };
        let state = tenant.as_ref().map(|t| t.state().to_string());
        let mut country_code = req.country_code.clone().filter(|c| !c.trim().is_empty());
        if let Some(state) = &state
            && !self
                .rules
                .mobile
                .allows_country(state, country_code.as_deref())
        {
            // an SMS to a premium or foreign range is never sent (SMS pumping): DIGIT's validation error
            // counted, not logged one by one: a pumping flood would flood the log too
            tracing::debug!(state = %state, "otp send refused: a country code the state's rules do not list");
            metrics::counter!(OTP_THROTTLED, "reason" => "country").increment(1);
            let allowed = self.rules.mobile.country_codes(state);
            rules.push(SendRule::CountryNotAllowed(
                allowed.into_iter().map(str::to_owned).collect(),
            ));
            country_code = None;
        }
        let mut mismatch = None;
        if let (Some(m), Some(state)) = (mobile, &state)
            && purpose != Some(Purpose::PasswordReset)
        {
            match self.rules.mobile.check(state, country_code.as_deref(), m) {
                Ok(cc) => country_code = Some(cc),
                Err(e) => mismatch = Some(e.pattern),
            }
        }
        if !rules.is_empty() {
            return Err(OtpError::InvalidSend(rules, mismatch));
        }
        let (Some(tenant), Some(mobile), Some(purpose), Some(state), None) =
            (tenant, mobile, purpose, state, &mismatch)
        else {
            return Err(OtpError::InvalidSend(rules, mismatch));
        };
        // the caps' verdict is an input of the session's: a resend of a live code is then held, not refused;
        // a test number in force passes uncounted (its session logs every use)
        let exempt = self
            .router
            .send(TestNumberInForce(self.key(&state, mobile)))
            .await
            .map_err(|_| Unreachable::Busy)?;
        let (admitted, outside) = if exempt {
            (None, None)
        } else {
            match self
                .tally
                .admit(self.tally.send_keys(ip, &state, mobile))
                .await
            {
                Ok(admission) => (Some(admission), None),
                Err(r) => (None, Some(r.key.throttle(r.retry_after_ms))),
            }
        };
        let destination = (
            country_code.clone().unwrap_or_default(),
            mobile
                .chars()
                .filter(char::is_ascii_digit)
                .take(2)
                .collect::<String>(),
        );
        let asked = Asked {
            tenant: tenant.as_str(),
            state,
            mobile,
            purpose,
            country_code,
            user_type: req.user_type.as_deref(),
            locale: req.locale.clone(),
            source: ip,
        };
        let sent = self.deliver(asked, outside).await;
        // the caps count SMS: a send that queued none gives its admission back, except a lookup that found
        // no one to send to (a client probing numbers pays for each probe)
        let counts = match &sent {
            Ok(receipt) => receipt.queued > 0,
            Err(e) => e.is_lookup_refusal(),
        };
        if let (Some(admission), false) = (admitted, counts) {
            self.tally.release(admission).await;
        }
        if sent.as_ref().is_ok_and(|r| r.queued > 0) {
            let (country, bucket) = destination;
            metrics::counter!(OTP_SENDS_BY_DESTINATION, "country" => country, "bucket" => bucket)
                .increment(1);
        }
        sent.map(|_| ())
    }

    /// `_send` after its request rules and the per-IP cap: the user lookup of the purpose, then the session.
    async fn deliver(
        &self,
        asked: Asked<'_>,
        outside: Option<Throttle>,
    ) -> Result<SendReceipt, OtpError> {
        if self.store.outbox().depth() >= self.rules.max_outbox_depth {
            return Err(OtpError::Backlog);
        }
        let Asked {
            tenant,
            state,
            mobile,
            purpose,
            ..
        } = asked;
        let state = state.as_str();
        let user = self
            .find_user(tenant, mobile, purpose, asked.user_type)
            .await?;
        let mut to = Recipients {
            mobile: mobile.to_owned(),
            country_code: asked.country_code,
            email: None,
            locale: asked.locale,
            tenant: Some(tenant.to_owned()),
            first_time: false,
        };
        match (purpose, &user) {
            (Purpose::Register, Some(_)) => return Err(OtpError::AlreadyRegistered),
            (Purpose::Register, None) => {}
            (Purpose::Login, None) => return Err(OtpError::UnknownCredential),
            (Purpose::Login, Some(u)) => {
                to.email = u.email_id.clone();
                to.first_time = !u.default_pwd_changed;
            }
            (Purpose::PasswordReset, None) => return Err(OtpError::UnknownMobile),
            (Purpose::PasswordReset, Some(u)) => {
                to.mobile = u.mobile_number.clone().ok_or(OtpError::NoMobile)?;
                to.email = u.email_id.clone();
                to.first_time = !u.default_pwd_changed;
            }
            (Purpose::Direct, _) => unreachable!("_send never parses a direct purpose"),
        }
        // the code belongs to the number it goes to: a reset's is the user's stored number, which is what the
        // no-login password update checks it against (the number typed may be the userName or an alternate);
        // that number's session may live on another pod
        let send = OtpSend {
            purpose,
            to,
            tenant: state.to_owned(),
            ip_refused: match outside {
                Some(Throttle::Ip { retry_after_ms }) => Some(retry_after_ms),
                _ => None,
            },
            outside,
            source: asked.source,
        };
        let home = self.store.otp().home(state, &send.to.mobile);
        let sent = match self.cluster.owner(home) {
            Owner::Peer(ordinal) if self.cluster.sharded() => self
                .cluster
                .send_otp_at(ordinal, &send)
                .await
                .map_err(|_| Unreachable::Busy)?
                .into(),
            // a takeover under way: nobody may send for this number yet
            Owner::Nobody => return Err(Unreachable::Busy.into()),
            _ => self.send_here(send).await?,
        };
        if let (Some(u), Ok(receipt)) = (&user, &sent) {
            let result = if receipt.queued > 0 { "sent" } else { "held" };
            self.registry.audit().record(
                &u.uuid,
                None,
                actors::domain::audit::AuditKind::OtpSent {
                    purpose: purpose.as_str().to_owned(),
                    result: result.to_owned(),
                },
            );
        }
        sent.map_err(|t| match t {
            Throttle::Ip { retry_after_ms } => OtpError::IpThrottled(retry_after_ms),
            Throttle::Prefix { .. } | Throttle::State { .. } => OtpError::Capped(t),
            number => OtpError::NumberThrottled(number),
        })
    }

    /// Forgets the OTP session actors of `partitions` (taken over again by this pod): the next message
    /// for one of their numbers starts a fresh actor from the store.
    pub fn release_sessions(&self, partitions: std::collections::BTreeSet<u16>) {
        self.router.do_send(ReleaseSessions(partitions));
    }

    /// A send to the session of `send.to.mobile` on this pod; `Err` is a limit that refused it.
    pub async fn send_here(
        &self,
        send: OtpSend,
    ) -> Result<Result<SendReceipt, Throttle>, OtpError> {
        let key = self.key(&send.tenant, &send.to.mobile);
        let msg = SendOtp {
            home: self.store.otp().home(&send.tenant, &send.to.mobile),
            purpose: send.purpose,
            to: send.to,
            tenant: send.tenant,
            outside: send.outside.or(send
                .ip_refused
                .map(|retry_after_ms| Throttle::Ip { retry_after_ms })),
            source: send.source,
        };
        match self
            .router
            .send(ToSession { key, msg })
            .await
            .map_err(|_| Unreachable::Busy)??
        {
            Ok(receipt) => {
                if receipt.queued > 0 {
                    self.notifier.do_send(Kick);
                }
                Ok(Ok(receipt))
            }
            Err(SendError::Throttled(t)) => Ok(Err(t)),
            Err(SendError::Store(e)) => Err(e.into()),
        }
    }

    /// `/otp/v1/_create`: a code for another service, returned in clear.
    pub async fn create(&self, identity: &str, tenant: &str) -> Result<Created, OtpError> {
        let state = self.served_state(tenant)?;
        let owner = TokenOwner {
            identity: identity.to_owned(),
            tenant: state.clone(),
        };
        let (live, code) = self
            .router
            .send(ToSession {
                key: self.key(&state, identity),
                msg: CreateDirect(owner),
            })
            .await
            .map_err(|_| Unreachable::Busy)???;
        Ok(Created {
            live,
            code,
            tenant: state,
        })
    }

    /// The OTP check of other flows (login, registration, password reset): consumes the code on success. The
    /// code's session may live on another pod (an employee's mobile is not their userName): asked there.
    pub async fn check(
        &self,
        identity: &str,
        tenant: &str,
        code: &str,
        purpose: Purpose,
        source: Option<IpAddr>,
    ) -> Result<(), OtpError> {
        let state = self.served_state(tenant)?;
        let owner = self.cluster.owner(self.store.otp().home(&state, identity));
        if owner == Owner::Nobody {
            return Err(Unreachable::Busy.into());
        }
        if self.cluster.sharded()
            && let Owner::Peer(ordinal) = owner
        {
            let check = OtpCheck {
                identity: identity.to_owned(),
                tenant: tenant.to_owned(),
                code: code.to_owned(),
                purpose: Some(purpose),
                source,
            };
            return match self.cluster.check_otp_at(ordinal, &check).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(OtpError::ValidationFailed),
                Err(_) => Err(Unreachable::Busy.into()),
            };
        }
        self.validate(identity, tenant, code, Some(purpose), source)
            .await
            .map(|_| ())
    }

    /// `/otp/v1/_validate` on the pod owning the session: consumes the code on success.
    pub async fn validate(
        &self,
        identity: &str,
        tenant: &str,
        code: &str,
        purpose: Option<Purpose>,
        source: Option<IpAddr>,
    ) -> Result<(String, String), OtpError> {
        let state = self.served_state(tenant)?;
        let msg = ValidateOtp {
            purpose,
            code: code.to_owned(),
            owner: TokenOwner {
                identity: identity.to_owned(),
                tenant: state.clone(),
            },
            source,
        };
        match self
            .router
            .send(ToSession {
                key: self.key(&state, identity),
                msg,
            })
            .await
            .map_err(|_| Unreachable::Busy)??
        {
            Ok(token) => Ok((token, state)),
            Err(ValidateError::Invalid(_)) => Err(OtpError::ValidationFailed),
            Err(ValidateError::Store(e)) => Err(e.into()),
        }
    }

    /// `/otp/v1/_search`: a token's owner and whether it was consumed; `None` when unknown.
    pub async fn search(&self, token_id: &str) -> Result<Option<(TokenOwner, bool)>, OtpError> {
        let Ok(token_id) = uuid::Uuid::parse_str(token_id) else {
            return Ok(None);
        };
        let Some((key, owner)) = self.store.otp().session_of_token(&token_id)? else {
            return Ok(None);
        };
        let status = self
            .router
            .send(ToSession {
                key,
                msg: TokenStatus(token_id),
            })
            .await
            .map_err(|_| Unreachable::Busy)??;
        Ok(status.map(|validated| (owner, validated)))
    }
}
