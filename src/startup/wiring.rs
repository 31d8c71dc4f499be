//! The services and actors start-up builds: logins with their lockout actors and sessions, the OTP session
//! router and the notifier with its sink, and the upkeep that runs beside them.

use super::*;
use actors::domain::tally::TallyLimits;

use crate::service::keys::Keys;

/// The services a login calls: the registry (a rehashed password is stored through it), the hasher and the
/// OTP flows.
pub(super) struct LoginServices {
    pub registry: Registry,
    pub hasher: HasherPool,
    pub otp: OtpService,
}

/// The login service: sessions (revocations loaded from the store) and the lockout actors (those holding
/// a lock started now, so their unlock timers run).
pub(super) fn start_login(
    settings: &Settings,
    keys: &Keys,
    store: &Arc<Store>,
    services: LoginServices,
    clock: &Clock,
    feed: Option<Arc<dyn RevocationFeed>>,
) -> Result<Login, StartError> {
    let LoginServices {
        registry,
        hasher,
        otp,
    } = services;
    let t = &settings.tokens;
    let minutes = |m: u64| i64::try_from(m.saturating_mul(60_000)).unwrap_or(i64::MAX / 2);
    let sessions = Sessions::load(
        keys.tokens(),
        store.clone(),
        clock.clone(),
        Lifetimes {
            access_ms: minutes(t.access_validity_minutes),
            refresh_ms: minutes(t.refresh_validity_minutes),
            grace_ms: i64::try_from(t.refresh_grace_secs.saturating_mul(1000)).unwrap_or(0),
        },
    )?;
    let sessions = match feed {
        Some(feed) => sessions.with_feed(feed),
        None => sessions,
    };
    let lockouts = Lockouts::new(
        LockoutDeps {
            store: store.clone(),
            policy: settings.lockout_policy(),
            clock: clock.clone(),
            idle: Duration::from_secs(settings.lockout.idle_secs),
        },
        settings.lockout.max_actors,
        Duration::from_secs(settings.http.request_timeout_secs),
    );
    let locked = lockouts.resume().map_err(|e| match e {
        LockoutError::Store(e) => StartError::Store(e),
        other => StartError::Store(StoreError::Corrupt(other.to_string())),
    })?;
    if locked > 0 {
        tracing::info!(locked, "lockouts: locked accounts resumed");
    }
    let rules = LoginRules {
        citizen_otp_login: settings.login.citizen_otp_login,
        employee_otp_login: settings.login.employee_otp_login,
        fixed_otp: settings
            .otp
            .fixed_otp_enabled
            .then(|| zeroize::Zeroizing::new(settings.otp.fixed_otp_value.clone())),
    };
    let sessions = Arc::new(sessions);
    let (pruned, otp_store) = (Arc::downgrade(&sessions), Arc::downgrade(store));
    let retention_ms = i64::from(settings.audit.retention_days).saturating_mul(86_400_000);
    actix_web::rt::spawn(async move {
        // the first tick is immediate: what ended while the service was down goes at once
        let mut hourly = tokio::time::interval(PRUNE_EVERY);
        loop {
            hourly.tick().await;
            let (Some(sessions), Some(store)) = (pruned.upgrade(), otp_store.upgrade()) else {
                break;
            };
            // scans of whole trees: off the arbiter thread the router and notifier share
            let runtime = tokio::runtime::Handle::current();
            let prune = move || -> Result<usize, StoreError> {
                runtime.block_on(async {
                    let now = sessions.now_ms();
                    Ok(sessions.prune().await?
                        + store.otp().prune(now).await?
                        + store
                            .audit()
                            .prune(now.saturating_sub(retention_ms))
                            .await?)
                })
            };
            match actix_web::rt::task::spawn_blocking(prune).await {
                Ok(Ok(removed)) => {
                    tracing::debug!(
                        removed,
                        "expired sessions, otp entries and audit events pruned"
                    )
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "pruning failed; retried next hour"),
                Err(e) => tracing::warn!(error = %e, "pruning task failed"),
            }
        }
    });
    Ok(Login::new(
        store.clone(),
        registry,
        hasher,
        otp,
        lockouts,
        sessions,
        rules,
    ))
}

/// Installs the Prometheus exporter (once per process), records the build info and samples what no event
/// reports, every few seconds, on the system arbiter.
pub(super) fn start_upkeep(store: &Arc<Store>) {
    if crate::observability::prometheus().is_none() {
        tracing::warn!("another metrics recorder is installed: /metrics is unavailable");
    }
    crate::observability::record_build_info();
    let store = Arc::downgrade(store);
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(crate::observability::UPKEEP_EVERY);
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { break };
            crate::observability::upkeep(&store);
            // sessions kept behind a journal that did not answer go in once it does, written to or not
            match store.durable().append_behind().await {
                Ok(0) => {}
                Ok(partitions) => {
                    tracing::info!(partitions, "journal: changes kept behind appended")
                }
                Err(e) => tracing::debug!(error = %e, "journal: changes kept behind still wait"),
            }
        }
    });
}

/// How often expired revocations, refresh families and refresh tokens, OTP token entries and idle OTP
/// states are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the OTP router (with its session dependencies) and the notifier with its sink.
pub(super) fn start_otp_actors(
    settings: &Settings,
    keys: &Keys,
    store: &Arc<Store>,
    clock: &Clock,
    sink: Arc<dyn Sink>,
    tenant_labels: TenantLabels,
) -> Result<(Addr<Router>, Addr<Notifier>), StartError> {
    let test_codes = settings
        .test_numbers()
        .into_iter()
        .enumerate()
        .map(|(index, (tenant, mobile, code, until_ms))| {
            // keyed as the sessions are: the normalised state
            let state = actors::domain::TenantId::parse(&tenant)
                .map(|t| t.state().to_string())
                .unwrap_or(tenant);
            (
                store.otp().session_key(&state, &mobile),
                TestCode {
                    code,
                    until_ms,
                    index,
                },
            )
        })
        .collect();
    if !settings.otp.test_numbers.is_empty() {
        tracing::warn!(
            count = settings.otp.test_numbers.len(),
            "otp test numbers are configured: they take a fixed code and get no sms"
        );
    }
    if settings.otp.fixed_otp_enabled {
        tracing::warn!(
            "citizen.login.password.otp.fixed.enabled is on: a fixed value is accepted as any citizen's login otp; never in production"
        );
    }
    let deps = Arc::new(SessionDeps {
        store: store.clone(),
        keys: keys.otp(),
        policy: settings.otp_policy(),
        catalogs: settings.message_catalogs()?,
        clock: clock.clone(),
        idle: Duration::from_secs(settings.otp.session_idle_secs),
        test_codes,
        tenant_labels,
    });
    let limits = RouterLimits {
        max_sessions: settings.otp.max_sessions,
        timeout: Duration::from_secs(settings.http.request_timeout_secs),
    };
    let router = Router::new(deps, limits).start();
    let n = &settings.notify;
    let config = NotifierConfig {
        batch: n.batch,
        poll: Duration::from_millis(n.poll_ms),
        backoff_min: Duration::from_millis(n.backoff_min_ms),
        backoff_max: Duration::from_millis(n.backoff_max_ms),
        sms_expiry_ms: n.sms_expiry_ms,
    };
    let notifier = Notifier::new(store.clone(), sink, clock.clone(), config).start();
    Ok((router, notifier))
}

/// The abuse counters' limits (`otp.max_sends_per_*`, `login.max_failures_per_*`).
pub(super) fn tally_limits(settings: &Settings) -> TallyLimits {
    let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let (o, l) = (&settings.otp, &settings.login);
    TallyLimits {
        sends_per_ip_per_hour: o.max_sends_per_ip_per_hour,
        max_tracked_ips: o.max_tracked_ips,
        sends_per_prefix: o.max_sends_per_prefix,
        max_tracked_prefixes: o.max_tracked_prefixes,
        sends_per_state: o.max_sends_per_state,
        send_window_ms: ms(o.velocity_window_secs),
        failures_per_address: l.max_failures_per_address,
        failures_per_subnet: l.max_failures_per_subnet,
        failure_window_ms: ms(l.failure_window_secs),
        max_tracked_addresses: l.max_tracked_addresses,
    }
}

/// A producer to `kafka.brokers` with the notification topics.
fn kafka_sink(settings: &Settings) -> Result<KafkaSink, StartError> {
    let k = &settings.kafka;
    let topics = KafkaTopics {
        sms: k.sms_topic.clone(),
        email: k.email_topic.clone(),
        notice: k.notice_topic.clone(),
        schema_index: k.central_instance.then_some(k.schema_index),
    };
    Ok(KafkaSink::new(
        &k.brokers,
        topics,
        Duration::from_millis(k.delivery_timeout_ms),
        &k.properties,
    )?)
}

/// Publishes the audit trail to `audit.kafka_topic` when one is set, with a producer of its own.
pub(super) fn start_audit_feed(settings: &Settings, store: &Arc<Store>) -> Result<(), StartError> {
    let a = &settings.audit;
    if a.kafka_topic.is_empty() {
        return Ok(());
    }
    let kafka = Arc::new(kafka_sink(settings)?);
    store.audit().feed().enable(a.feed_max_pending);
    let n = &settings.notify;
    let feed = crate::service::audit_feed::FeedSettings {
        topic: a.kafka_topic.clone(),
        batch: n.batch,
        poll: Duration::from_millis(n.poll_ms),
        backoff_min: Duration::from_millis(n.backoff_min_ms),
        backoff_max: Duration::from_millis(n.backoff_max_ms),
    };
    actix_web::rt::spawn(crate::service::audit_feed::run(
        Arc::downgrade(store),
        kafka,
        feed,
    ));
    tracing::info!(topic = %a.kafka_topic, "audit events are published to kafka");
    Ok(())
}

/// The sink `notify.sink` names (`auto`: kafka when brokers are configured, else file).
pub(super) fn notification_sink(settings: &Settings) -> Result<Arc<dyn Sink>, StartError> {
    match settings.sink() {
        SinkKind::Kafka => {
            let k = &settings.kafka;
            let sink = kafka_sink(settings)?;
            tracing::info!(brokers = %k.brokers, sms_topic = %k.sms_topic, email_topic = %k.email_topic, "notifications go to kafka");
            Ok(Arc::new(sink))
        }
        SinkKind::File | SinkKind::Auto => {
            let path = if settings.notify.file.is_empty() {
                settings.storage.data_dir.join("notifications.jsonl")
            } else {
                std::path::PathBuf::from(&settings.notify.file)
            };
            tracing::warn!(path = %path.display(), "notifications (with their otps) go to a local file: for local use only");
            Ok(Arc::new(FileSink::new(path)))
        }
    }
}
