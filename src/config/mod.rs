//! Configuration: the typed settings of the service, their range checks and the catalogs they name.
//!
//! The compiled-in `config/default.toml` is the only place defaults live: the settings structs have no serde
//! defaults and deny unknown fields, so that file must carry every key (a test checks it) and a misspelt key
//! anywhere stops start-up with its name. How the layers combine is `layers.rs`.

mod layers;

use std::collections::BTreeMap;
use std::path::PathBuf;

use actors::domain::mobile::{MobileRules, MobileRulesFile};
use actors::domain::password::{PasswordPolicy, PolicyKind};
use actors::domain::roles::{RoleCatalog, RoleCatalogFile};
use actors::hasher::HashCost;
use figment::value::Value;
use serde::{Deserialize, Serialize};

pub use layers::{
    ENV_PREFIX, EnvSource, MapEnv, ProcessEnv, SPRING_NAMES, spring_env_name, spring_key,
};

/// The shipped configuration, compiled in: the built-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
const BUILTIN_ROLES: &str = include_str!("../../config/roles.toml");
const BUILTIN_MOBILE: &str = include_str!("../../config/mobile.toml");

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer has a bad key or value; figment's message names the key and the layer.
    #[error("configuration error: {0}")]
    Invalid(Box<figment::Error>),
    /// `--config FILE` does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A `[digit]` key that is not a DIGIT property we know.
    #[error(
        "configuration error: unknown key `digit.{0}` (see the [digit] table of config/default.toml for the accepted names)"
    )]
    UnknownSpringName(String),
    /// A value out of its range.
    #[error("configuration error: {0}")]
    Range(String),
    /// A catalog file cannot be read or parsed.
    #[error("catalog {path}: {reason}")]
    Catalog {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        Self::Invalid(Box::new(e))
    }
}

/// Listeners and request handling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Public listener address.
    pub public_addr: String,
    /// Internal listener address.
    pub internal_addr: String,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Request body cap, bytes.
    pub max_body_bytes: usize,
    /// Grace period for in-flight requests on shutdown, seconds.
    pub shutdown_timeout_secs: u64,
    /// Wait bound for internal workers, seconds.
    pub request_timeout_secs: u64,
}

/// The data dir and sled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// sled cache, MiB.
    pub cache_mb: u64,
    /// sled background flush period, ms.
    pub flush_every_ms: u64,
    /// Writers waiting for a flush at most.
    pub commit_queue: usize,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// tracing filter.
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Sharding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Partition count.
    pub partitions: u16,
}

/// Catalog files; empty = built in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// Role catalog path.
    pub roles_file: String,
    /// Mobile rules path.
    pub mobile_file: String,
}

/// Mobile validation fallbacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileSettings {
    /// Fallback country code.
    pub default_country_code: String,
    /// Fallback regex.
    pub default_regex: String,
}

/// User registry behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSettings {
    /// Gateway search page size and cap.
    pub search_default_size: usize,
    /// Inter-service search cap; 0 = none.
    pub search_inter_service_max_size: usize,
    /// `name` mandatory on create.
    pub validate_name_on_create: bool,
    /// Default password expiry, days.
    pub default_password_expiry_days: i64,
    /// Inter-service creates may omit the mobile number.
    pub mobile_validation_workaround: bool,
    /// Roles allowed to call `_createnovalidate` through the gateway.
    pub create_roles: Vec<String>,
    /// Roles allowed to call `_updatenovalidate` through the gateway.
    pub update_roles: Vec<String>,
}

/// Password policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    /// `digit` or `nist`.
    pub policy: PolicyKind,
    /// Minimum length.
    pub min_length: usize,
    /// Maximum length.
    pub max_length: usize,
}

/// argon2 hasher pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HasherSettings {
    /// Threads; 0 = one per core.
    pub threads: usize,
    /// Requests queued or running at most.
    pub queue: usize,
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// Login lockout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSettings {
    /// Failures that lock.
    pub max_invalid_attempts: u32,
    /// Counting window, minutes.
    pub window_minutes: u32,
    /// Lock duration, minutes.
    pub cooldown_minutes: u32,
}

/// Token lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Access token lifetime, minutes.
    pub access_validity_minutes: u64,
    /// Refresh token lifetime, minutes.
    pub refresh_validity_minutes: u64,
}

/// Every setting of the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[http]`
    pub http: HttpSettings,
    /// `[storage]`
    pub storage: StorageSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[cluster]`
    pub cluster: ClusterSettings,
    /// `[catalog]`
    pub catalog: CatalogSettings,
    /// `[mobile]`
    pub mobile: MobileSettings,
    /// `[user]`
    pub user: UserSettings,
    /// `[password]`
    pub password: PasswordSettings,
    /// `[hasher]`
    pub hasher: HasherSettings,
    /// `[lockout]`
    pub lockout: LockoutSettings,
    /// `[tokens]`
    pub tokens: TokenSettings,
    /// `[digit]`: DIGIT Spring names, already applied to the keys above.
    pub digit: BTreeMap<String, Value>,
}

/// Values from the command line, the last layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config FILE`
    pub config_file: Option<PathBuf>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen`
    pub public_addr: Option<String>,
    /// `--internal-listen`
    pub internal_addr: Option<String>,
}

impl Settings {
    pub(crate) fn check_ranges(&self) -> Result<(), ConfigError> {
        let fail = |m: &str| Err(ConfigError::Range(m.to_owned()));
        if self.cluster.partitions == 0 {
            return fail("cluster.partitions must be at least 1");
        }
        if self.password.min_length == 0 || self.password.min_length > self.password.max_length {
            return fail("password.min_length must be between 1 and password.max_length");
        }
        if self.http.max_body_bytes < 1024 {
            return fail("http.max_body_bytes must be at least 1024");
        }
        if self.user.search_default_size == 0 {
            return fail("user.search_default_size must be at least 1");
        }
        if self.hasher.queue == 0 {
            return fail("hasher.queue must be at least 1");
        }
        if let Err(e) = self.hash_cost_params() {
            return fail(&format!("hasher cost: {e}"));
        }
        regex::Regex::new(&self.mobile.default_regex)
            .map_err(|e| ConfigError::Range(format!("mobile.default_regex: {e}")))?;
        Ok(())
    }

    fn hash_cost_params(&self) -> Result<(), String> {
        actors::hasher::PasswordHasher::new(HashCost {
            m_kib: 8,
            t: self.hasher.iterations,
            p: self.hasher.parallelism,
        })
        .map(drop)
        .map_err(|e| e.to_string())?;
        if self.hasher.memory_kib < 8 * self.hasher.parallelism {
            return Err("memory_kib must be at least 8 × parallelism".into());
        }
        Ok(())
    }

    /// HTTP worker count with 0 resolved to the core count.
    pub fn workers(&self) -> usize {
        resolve_threads(self.http.workers)
    }

    /// Hasher thread count with 0 resolved to the core count.
    pub fn hasher_threads(&self) -> usize {
        resolve_threads(self.hasher.threads)
    }

    /// The argon2id cost.
    pub fn hash_cost(&self) -> HashCost {
        HashCost {
            m_kib: self.hasher.memory_kib,
            t: self.hasher.iterations,
            p: self.hasher.parallelism,
        }
    }

    /// The password policy.
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            kind: self.password.policy,
            min_len: self.password.min_length,
            max_len: self.password.max_length,
        }
    }

    /// Loads the role catalog and mobile rules this configuration names.
    pub fn catalogs(&self) -> Result<(RoleCatalog, MobileRules), ConfigError> {
        let roles: RoleCatalogFile =
            read_catalog(&self.catalog.roles_file, BUILTIN_ROLES, "config/roles.toml")?;
        let mobile: MobileRulesFile = read_catalog(
            &self.catalog.mobile_file,
            BUILTIN_MOBILE,
            "config/mobile.toml",
        )?;
        let rules = MobileRules::new(
            &mobile,
            &self.mobile.default_country_code,
            &self.mobile.default_regex,
        )
        .map_err(|e| ConfigError::Catalog {
            path: display_catalog(&self.catalog.mobile_file, "config/mobile.toml"),
            reason: e.to_string(),
        })?;
        Ok((RoleCatalog::new(&roles), rules))
    }
}

fn resolve_threads(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(2, usize::from)
    }
}

fn display_catalog(path: &str, builtin: &str) -> String {
    if path.is_empty() {
        format!("{builtin} (built in)")
    } else {
        path.to_owned()
    }
}

fn read_catalog<T: serde::de::DeserializeOwned>(
    path: &str,
    builtin: &str,
    builtin_name: &str,
) -> Result<T, ConfigError> {
    let fail = |reason: String| ConfigError::Catalog {
        path: display_catalog(path, builtin_name),
        reason,
    };
    let text = if path.is_empty() {
        builtin.to_owned()
    } else {
        std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?
    };
    toml::from_str(&text).map_err(|e| fail(e.to_string()))
}
