//! What the request handlers share: the use cases, the settings, readiness and this pod's place in the
//! cluster. Built by start-up, read by the handlers and the middlewares; it imports no handler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cluster::Cluster;
use crate::config::Settings;
use crate::service::login::Login;
use crate::service::otp::OtpService;
use crate::service::registry::Registry;

/// Shared state of the request handlers.
pub struct AppState {
    /// The keys in force (`/admin/keys`).
    pub keys: Arc<crate::service::keys::Keys>,
    /// The user registry.
    pub registry: Registry,
    /// The OTP flows.
    pub otp: OtpService,
    /// Logins, sessions and lockouts.
    pub login: Login,
    /// A user's own account and an admin update's effects.
    pub accounts: crate::service::account::Accounts,
    /// The internal listener's address (internal-only endpoints check it).
    pub internal_addr: SocketAddr,
    /// The settings in force.
    pub settings: Arc<Settings>,
    /// Readiness switch.
    pub readiness: Readiness,
    /// The abuse counters: sends per address, prefix and state; failed token requests per address and subnet.
    pub tally: Arc<crate::service::tally::Tally>,
    /// Users moved in from egov-user through this pod.
    pub importer: crate::service::import::Importer,
    /// This pod's place among the shards.
    pub cluster: Arc<Cluster>,
    /// What a caller sees of the users a search found.
    pub privacy: crate::service::privacy::Privacy,
    /// Whose forwarding headers name the client.
    pub proxies: super::client_ip::TrustedProxies,
    /// Threads for long store work (searches), off the HTTP workers.
    pub bulk: crate::service::bulk::Bulk,
}

/// Readiness switch flipped by start-up and shutdown.
#[derive(Debug, Default, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the service ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether start-up finished and shutdown has not begun.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
