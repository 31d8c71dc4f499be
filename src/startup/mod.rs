//! Building and running the service: secrets → store → catalogs → hasher pool → registry → listeners, and
//! the ordered shutdown of ARCHITECTURE.md: readiness off → stop accepting and finish in-flight requests
//! (bounded) → stop the actors → flush the store → exit 0. actix's own signal handling is off so this order
//! holds; the caller passes the future that says when to stop.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use actors::Clock;
use actors::hasher::{HasherError, HasherPool};
use actors::notifier::{Drain, Notifier, NotifierConfig};
use actors::otp_session::{SessionDeps, TestCode};
use actors::router::{Router, RouterLimits};
use actors::sink::{FileSink, Sink};
use actors::store::{Store, StoreError};

use crate::cluster::{Cluster, ClusterError};
use crate::config::{ConfigError, EnvSource, Settings, SinkKind};
use crate::http::json::{BodyLimit, BodyTimeout, StringLimit};
use crate::http::state::{AppState, Readiness};
use crate::journal::revocations::RevocationReader;
use crate::kafka::{KafkaSetupError, KafkaSink, KafkaTopics};
use crate::secrets::{SecretError, Secrets};
use crate::service::login::{Login, LoginRules};
use crate::service::otp::OtpService;
use crate::service::registry::{Registry, RegistryRules};
use crate::service::sessions::{Lifetimes, RevocationFeed, Sessions};
use actors::lockout::{LockoutDeps, LockoutError, Lockouts};
use actors::metrics::TenantLabels;

mod group;
mod journal;
mod wiring;
use group::GroupRun;
use wiring::{notification_sink, start_login, start_otp_actors, start_upkeep};

/// Earlier builds stored tenants as requests spelled them (`PB`): brought to one spelling before anything
/// reads them, once per data dir.
fn normalise_tenants(store: &Store, now: i64) -> Result<(), StartError> {
    if let Some((rewritten, left)) = store.normalise_tenants_once(now)? {
        if rewritten > 0 {
            tracing::info!(
                records = rewritten,
                "tenants of stored users normalised (lower case)"
            );
        }
        for uuid in left {
            tracing::warn!(%uuid, "a user's tenant differs from another user's only in case: left as stored; resolve the two accounts");
        }
    }
    Ok(())
}

/// Under a group: what a pod forgets of a partition it takes over before serving it — the OTP session and
/// lockout actors of its numbers and users, whose state another pod may have changed meanwhile (the store,
/// replayed from the journal, has it). Holds the state weakly: shutdown still stops the actors.
fn forget_actors(state: &web::Data<AppState>) -> Box<group::Forget> {
    let state = Arc::downgrade(&state.clone().into_inner());
    Box::new(move |partitions| {
        let Some(state) = state.upgrade() else {
            return;
        };
        state.otp.release_sessions(partitions.clone());
        state.login.lockouts().release(|uuid| {
            uuid::Uuid::parse_str(uuid)
                .is_ok_and(|u| partitions.contains(&state.cluster.homes().of_uuid(&u).0))
        });
    })
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Secrets.
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The data dir.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hasher pool.
    #[error("cannot start the password hasher: {0}")]
    Hasher(#[from] HasherError),
    /// The cluster settings.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The Kafka producer (a bad `kafka.properties` entry).
    #[error(transparent)]
    Kafka(#[from] KafkaSetupError),
    /// The journal (its client, or keys it cannot do without).
    #[error("journal: {0}")]
    Journal(String),
    /// The keys could not be put in force.
    #[error("keys: {0}")]
    Keys(#[from] crate::service::keys::KeyError),
    /// A listener address.
    #[error(
        "cannot listen on {addr}: {source}; choose a free address with --listen / --internal-listen"
    )]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A built, not yet running service.
pub struct Application {
    server: Server,
    public_addr: SocketAddr,
    internal_addr: SocketAddr,
    state: web::Data<AppState>,
    store: Arc<Store>,
    notifier: Addr<Notifier>,
    sink: Arc<dyn Sink>,
    drain: Duration,
    /// Reads the journal's revocations topic while the service runs (journal on).
    _revocations: Option<Arc<RevocationReader>>,
    /// The group membership (journal on).
    group: Option<GroupRun>,
}

impl Application {
    /// Builds the service from settings; must run inside an actix system. Secrets missing from `env` are
    /// generated into the data dir.
    pub fn build(
        settings: Settings,
        env: &dyn EnvSource,
        clock: Clock,
    ) -> Result<Self, StartError> {
        let settings = Arc::new(settings);
        // listeners first: a taken port must stop start-up before any actor runs
        let public = listener(&settings.http.public_addr)?;
        let internal = listener(&settings.http.internal_addr)?;
        let secrets = load_secrets(&settings, env, settings.journal_on())?;
        let store = Arc::new(
            crate::journal::open_store(&settings, secrets.store_keys()).map_err(|e| match e {
                crate::journal::OpenError::Store(e) => StartError::Store(e),
                kafka => StartError::Journal(kafka.to_string()),
            })?,
        );
        // the keys the data dir pinned before anything seals (a rotation's new key may be listed already)
        let keys = Arc::new(crate::service::keys::Keys::start(
            store.clone(),
            &secrets,
            crate::service::keys::SecretSource::new(settings.storage.data_dir.clone(), env),
            clock.clone(),
            settings.token_key_grace_ms(),
        )?);
        normalise_tenants(&store, clock.now_ms())?;
        let cluster = Cluster::start(&settings.cluster, settings.journal_on(), store.clone())?;
        // group: nothing is served (nor written) before the group assigns it (a one-time tenant
        // normalisation above may have claimed partitions; their owner's next write takes them back)
        let group = group::start(&settings, &cluster, &store, &clock)?;
        let (roles, mobile) = settings.catalogs()?;
        let masking = Arc::new(settings.masking_policy()?);
        let tenant_labels = if settings.metrics.tenants.is_empty() {
            TenantLabels::new(roles.states().chain(mobile.states()).map(str::to_owned))
        } else {
            TenantLabels::new(settings.metrics.tenants.iter().cloned())
        };
        let hasher = HasherPool::start_with_priority(
            settings.hasher_threads(),
            settings.hasher.queue,
            settings.hash_cost(),
            Duration::from_secs(settings.http.request_timeout_secs),
            settings.hasher.nice,
        )?;
        let states = Arc::new(settings.known_states(&roles, &mobile));
        let rules = RegistryRules {
            validate_name_on_create: settings.user.validate_name_on_create,
            default_password_expiry_days: settings.user.default_password_expiry_days,
            mobile_validation_workaround: settings.user.mobile_validation_workaround,
            password: settings.password_policy(),
            states: states.clone(),
            email_change: settings.email_change_notice(),
        };
        let registry = Registry::new(
            store.clone(),
            hasher.clone(),
            roles,
            mobile.clone(),
            rules,
            clock.clone(),
        )
        .with_audit_route(cluster.clone());
        let sink = notification_sink(&settings)?;
        wiring::start_audit_feed(&settings, &store)?;
        let (router, notifier) = start_otp_actors(
            &settings,
            &keys,
            &store,
            &clock,
            sink.clone(),
            tenant_labels,
        )?;
        let tally = Arc::new(crate::service::tally::Tally::new(
            wiring::tally_limits(&settings),
            settings.otp.prefix_digits,
            settings.login.max_tracked_addresses,
            cluster.clone(),
            clock.clone(),
        ));
        let otp = OtpService::new(
            router,
            notifier.clone(),
            store.clone(),
            registry.clone(),
            crate::service::otp::OtpRules {
                mobile,
                states,
                max_outbox_depth: settings.notify.max_outbox_depth,
            },
            cluster.clone(),
            tally.clone(),
        );
        let login = start_login(
            &settings,
            &keys,
            &store,
            wiring::LoginServices {
                registry: registry.clone(),
                hasher,
                otp: otp.clone(),
            },
            &clock,
            journal::revocation_feed(&settings)?,
        )?;
        let revocations = journal::revocation_reader(&settings, &login.shared_sessions())?;

        let bound = |listener: &TcpListener, addr: &str| {
            listener.local_addr().map_err(|source| StartError::Bind {
                addr: addr.to_owned(),
                source,
            })
        };
        let public_addr = bound(&public, &settings.http.public_addr)?;
        let internal_addr = bound(&internal, &settings.http.internal_addr)?;
        let readiness = Readiness::default();
        let accounts = crate::service::account::Accounts::new(
            registry.clone(),
            otp.clone(),
            login.clone(),
            settings.clone(),
        );
        let importer = crate::service::import::Importer::new(
            store.clone(),
            registry.clone(),
            cluster.clone(),
            journal::directory_publisher(&settings)?,
            clock.clone(),
        );
        let state = web::Data::new(AppState {
            privacy: crate::service::privacy::Privacy::new(masking, settings.privacy.abac_enabled),
            keys,
            tally,
            importer,
            registry,
            otp,
            login,
            accounts,
            internal_addr,
            settings: settings.clone(),
            readiness: readiness.clone(),
            cluster: cluster.clone(),
            proxies: crate::http::client_ip::TrustedProxies::from_settings(&settings.http),
            bulk: crate::service::bulk::Bulk::start(
                settings.bulk_threads(),
                settings.http.bulk_queue,
            ),
        });
        if let Some(group) = &group {
            group.forget_with(forget_actors(&state));
        }
        let limit = BodyLimit(settings.http.max_body_bytes);
        let body_timeout = BodyTimeout(Duration::from_secs(settings.http.body_timeout_secs));
        let string_limit = StringLimit(settings.http.max_string_chars);
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    crate::observability::http_metrics,
                ))
                .wrap(actix_web::middleware::from_fn(crate::http::forward::route))
                .wrap(actix_web::middleware::from_fn(
                    crate::http::correlation::correlate,
                ))
                .app_data(app_state.clone())
                .app_data(limit)
                .app_data(body_timeout)
                .app_data(string_limit)
                .configure(crate::http::endpoints::configure)
        })
        .workers(settings.workers())
        .client_request_timeout(Duration::from_secs(settings.http.header_timeout_secs))
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .listen(public)
        .and_then(|s| s.listen(internal))
        .map_err(|source| StartError::Bind {
            addr: settings.http.public_addr.clone(),
            source,
        })?
        .run();
        start_upkeep(&store);
        cluster.publish_metrics();
        // the group's assignments are taken over as they come (each replayed to its journal's end first)
        let group_ready = group.as_ref().map(GroupRun::ready);
        let topics = settings
            .journal_on()
            .then(|| journal::topics_ready(settings.clone()));
        let ready = state.clone();
        let fence_check = Duration::from_millis(settings.journal.fence_check_ms);
        let fence_store = store.clone();
        let revocations_read = revocations.clone();
        actix_web::rt::spawn(async move {
            // ready once the topics are there, the revocations topic read to the end it had at start,
            // and the group's first assignment taken over
            if let Some(topics) = topics {
                topics.await;
                journal::start_fence_checks(&fence_store, fence_check);
                if let Err(e) = ready.login.sessions().load_revocations() {
                    tracing::error!(error = %e, "revocations restored from the journal not loaded");
                }
            }
            if let Some(reader) = revocations_read {
                reader.caught_up().await;
            }
            if let Some(group_ready) = group_ready {
                group_ready.await;
            }
            ready.readiness.set(true);
        });
        let drain = Duration::from_secs(settings.notify.shutdown_drain_secs);
        Ok(Self {
            server,
            public_addr,
            internal_addr,
            state,
            store,
            notifier,
            sink,
            drain,
            _revocations: revocations,
            group,
        })
    }

    /// The bound public address (port 0 resolved).
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// The store (tests and tools that inspect what a request left on disk).
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The bound internal address.
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal_addr
    }

    /// Serves until `stop` completes, then shuts down in order.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = actix_web::rt::spawn(self.server);
        tracing::info!(public = %self.public_addr, internal = %self.internal_addr, "digit-user serving");
        tokio::select! {
            result = &mut server => return result.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            () = stop => {}
        }
        if let Some(group) = self.group {
            // partitions handed over first, while this pod still forwards what reaches it
            tracing::info!("shutdown: handing partitions over and leaving the group");
            group.leave().await;
        }
        tracing::info!("shutdown: readiness off, finishing in-flight requests");
        self.state.readiness.set(false);
        handle.stop(true).await;
        let _ = server.await;
        tracing::info!("shutdown: requests done, stopping actors");
        drop(self.state);
        tracing::info!("shutdown: delivering queued notifications");
        let started = std::time::Instant::now();
        match self.notifier.send(Drain { within: self.drain }).await {
            Ok(0) => {}
            Ok(left) => tracing::warn!(
                left,
                "notifications left in the outbox; they go out after the next start"
            ),
            Err(e) => tracing::warn!(error = %e, "the notifier did not answer the drain"),
        }
        let sink = self.sink.clone();
        let left = self
            .drain
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let _ = actix_web::rt::task::spawn_blocking(move || sink.flush(left)).await;
        tracing::info!("shutdown: flushing the store");
        self.store.flush().await.map_err(std::io::Error::other)?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// The secrets, generated into the data dir when absent — except with the journal on: a pod that started
/// with fresh keys could not read the journal its data lives in.
fn load_secrets(
    settings: &Settings,
    env: &dyn EnvSource,
    journal_on: bool,
) -> Result<Secrets, StartError> {
    Secrets::load_or_generate(&settings.storage.data_dir, env, !journal_on).map_err(|e| match e {
        SecretError::Missing(var) if journal_on => StartError::Journal(format!(
            "secret {var} is not set, and with the journal on serve does not generate keys (a pod with \
             fresh keys could not read the journal): supply the deployment's keys (env, {var}_FILE or \
             <data dir>/secrets)"
        )),
        other => other.into(),
    })
}

fn listener(addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).map_err(|source| StartError::Bind {
        addr: addr.to_owned(),
        source,
    })
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutdown requested"),
    }
}
