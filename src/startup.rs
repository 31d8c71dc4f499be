//! Building and running the service: secrets → store → catalogs → hasher pool → registry → listeners, and
//! the ordered shutdown of ARCHITECTURE.md: readiness off → stop accepting and finish in-flight requests
//! (bounded) → stop the actors → flush the store → exit 0. actix's own signal handling is off so this order
//! holds; the caller passes the future that says when to stop.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use actors::Clock;
use actors::hasher::{HasherError, HasherPool};
use actors::store::{Store, StoreError, StoreKeys, StoreOptions};

use crate::config::{ConfigError, EnvSource, Settings};
use crate::http::health::Readiness;
use crate::http::json::BodyLimit;
use crate::registry::{Registry, RegistryRules};
use crate::secrets::{SecretError, Secrets};

/// Shared state of the request handlers.
pub struct AppState {
    /// The user registry.
    pub registry: Registry,
    /// The settings in force.
    pub settings: Arc<Settings>,
    /// Readiness switch.
    pub readiness: Readiness,
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
        let secrets = Secrets::load_or_generate(&settings.storage.data_dir, env, true)?;
        let store = Arc::new(open_store(&settings, &secrets)?);
        let (roles, mobile) = settings.catalogs()?;
        let hasher = HasherPool::start(
            settings.hasher_threads(),
            settings.hasher.queue,
            settings.hash_cost(),
            Duration::from_secs(settings.http.request_timeout_secs),
        )?;
        let rules = RegistryRules {
            validate_name_on_create: settings.user.validate_name_on_create,
            default_password_expiry_days: settings.user.default_password_expiry_days,
            mobile_validation_workaround: settings.user.mobile_validation_workaround,
            password: settings.password_policy(),
        };
        let registry = Registry::new(store.clone(), hasher, roles, mobile, rules, clock);
        let readiness = Readiness::default();
        let state = web::Data::new(AppState {
            registry,
            settings: settings.clone(),
            readiness: readiness.clone(),
        });

        let public = bind(&settings.http.public_addr)?;
        let internal = bind(&settings.http.internal_addr)?;
        let public_addr = public.local_addr().map_err(|source| StartError::Bind {
            addr: settings.http.public_addr.clone(),
            source,
        })?;
        let internal_addr = internal.local_addr().map_err(|source| StartError::Bind {
            addr: settings.http.internal_addr.clone(),
            source,
        })?;
        let limit = BodyLimit(settings.http.max_body_bytes);
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(limit)
                .configure(crate::http::public_routes)
        })
        .workers(settings.workers())
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .listen(public)
        .and_then(|s| s.listen(internal))
        .map_err(|source| StartError::Bind {
            addr: settings.http.public_addr.clone(),
            source,
        })?
        .run();
        readiness.set(true);
        Ok(Self {
            server,
            public_addr,
            internal_addr,
            state,
            store,
        })
    }

    /// The bound public address (port 0 resolved).
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
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
        tracing::info!("shutdown: readiness off, finishing in-flight requests");
        self.state.readiness.set(false);
        handle.stop(true).await;
        let _ = server.await;
        tracing::info!("shutdown: requests done, stopping actors");
        drop(self.state);
        tracing::info!("shutdown: flushing the store");
        self.store.flush().map_err(std::io::Error::other)?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

fn bind(addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).map_err(|source| StartError::Bind {
        addr: addr.to_owned(),
        source,
    })
}

/// Opens the store under the settings' data dir with the given secrets.
pub fn open_store(settings: &Settings, secrets: &Secrets) -> Result<Store, StoreError> {
    let opts = StoreOptions {
        path: settings.storage.data_dir.clone(),
        cache_capacity_bytes: settings.storage.cache_mb * 1024 * 1024,
        flush_every_ms: Some(settings.storage.flush_every_ms).filter(|ms| *ms > 0),
        commit_queue: settings.storage.commit_queue,
        partitions: settings.cluster.partitions,
    };
    Store::open(
        &opts,
        StoreKeys {
            keyring: secrets.keyring(),
            blind: secrets.blind_indexer(),
        },
    )
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
