//! Configuration: the typed settings of the service, their range checks and the catalogs they name.
//!
//! The compiled-in `config/default.toml` is the only place defaults live: the settings structs have no serde
//! defaults and deny unknown fields, so that file must carry every key (a test checks it) and a misspelt key
//! anywhere stops start-up with its name. How the layers combine is `layers.rs`.

mod checks;
mod layers;
pub mod memory;
mod sections;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actors::domain::masking::{MaskingPolicy, PolicyFile};
use actors::domain::mobile::{MobileRules, MobileRulesFile};
use actors::domain::password::PasswordPolicy;
use actors::domain::roles::{RoleCatalog, RoleCatalogFile};
use actors::hasher::HashCost;
use figment::value::Value;
use serde::{Deserialize, Serialize};

pub use sections::*;

pub use layers::{
    ENV_PREFIX, EnvSource, MapEnv, ProcessEnv, SPRING_NAMES, spring_env_name, spring_key,
};

/// The shipped configuration, compiled in: the built-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
const BUILTIN_ROLES: &str = include_str!("../../config/roles.toml");
const BUILTIN_MOBILE: &str = include_str!("../../config/mobile.toml");
const BUILTIN_PRIVACY: &str = include_str!("../../config/privacy.toml");
const BUILTIN_MESSAGES: &[(&str, &str)] = &[
    ("en_IN", include_str!("../../config/messages/en_IN.toml")),
    ("hi_IN", include_str!("../../config/messages/hi_IN.toml")),
];

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
    /// A key of an earlier version that no longer means anything (and would mislead if ignored).
    #[error("configuration error: `{key}` (set by {layer}) is retired: {instead}; remove it")]
    Retired {
        /// The key.
        key: &'static str,
        /// The layer that set it.
        layer: String,
        /// What replaced it.
        instead: &'static str,
    },
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
    /// `[tenants]`
    pub tenants: TenantSettings,
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
    /// `[otp]`
    pub otp: OtpSettings,
    /// `[notify]`
    pub notify: NotifySettings,
    /// `[kafka]`
    pub kafka: KafkaSettings,
    /// `[journal]`
    pub journal: JournalSettings,
    /// `[metrics]`
    pub metrics: MetricsSettings,
    /// `[lockout]`
    pub lockout: LockoutSettings,
    /// `[login]`
    pub login: LoginSettings,
    /// `[security]`
    pub security: SecuritySettings,
    /// `[privacy]`
    pub privacy: PrivacySettings,
    /// `[audit]`
    pub audit: AuditSettings,
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

    /// The sink in force: `auto` resolved by whether brokers are configured.
    pub fn sink(&self) -> SinkKind {
        match self.notify.sink {
            SinkKind::Auto if self.kafka.brokers.trim().is_empty() => SinkKind::File,
            SinkKind::Auto => SinkKind::Kafka,
            other => other,
        }
    }

    /// HTTP worker count with 0 resolved to the core count.
    pub fn workers(&self) -> usize {
        resolve_threads(self.http.workers)
    }

    /// Bulk thread count with 0 resolved to the core count.
    pub fn bulk_threads(&self) -> usize {
        resolve_threads(self.http.bulk_threads)
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

    /// Whether writes last in the journal on Kafka: `kafka.brokers` set and `journal.enabled`.
    pub fn journal_on(&self) -> bool {
        self.journal.enabled && !self.kafka.brokers.trim().is_empty()
    }

    /// The sled cache: `storage.cache_mb`, or sized from the container's memory limit when it is 0.
    pub fn cache_bytes(&self) -> u64 {
        match self.storage.cache_mb {
            0 => memory::cache_for(memory::limit()),
            mb => mb << 20,
        }
    }

    /// Where and how the store opens: the `[storage]` section and the partition count.
    pub fn store_options(&self) -> actors::store::StoreOptions {
        actors::store::StoreOptions {
            path: self.storage.data_dir.clone(),
            cache_capacity_bytes: self.cache_bytes(),
            flush_every_ms: Some(self.storage.flush_every_ms).filter(|ms| *ms > 0),
            commit_queue: self.storage.commit_queue,
            partitions: self.cluster.partitions,
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

    /// The states served: `tenants.states`, else the catalogs' states and `tenants.state_level`.
    pub fn known_states(
        &self,
        roles: &actors::domain::roles::RoleCatalog,
        mobile: &actors::domain::mobile::MobileRules,
    ) -> actors::domain::KnownStates {
        if self.tenants.states.is_empty() {
            actors::domain::KnownStates::new(
                roles
                    .states()
                    .chain(mobile.states())
                    .chain(Some(self.tenants.state_level.as_str())),
            )
        } else {
            actors::domain::KnownStates::new(self.tenants.states.iter().map(String::as_str))
        }
    }

    /// How long tokens of a previous signing key verify after a rotation, ms.
    pub fn token_key_grace_ms(&self) -> i64 {
        i64::try_from(self.tokens.previous_key_grace_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX / 2)
    }

    /// The OTP limits.
    pub fn otp_policy(&self) -> actors::domain::otp::OtpPolicy {
        let o = &self.otp;
        actors::domain::otp::OtpPolicy {
            length: o.length,
            ttl_ms: o.ttl_secs * 1000,
            max_attempts: o.max_attempts_total.max(o.max_attempts),
            attempts_per_source: o.max_attempts,
            sends_per_source: o.max_sends_per_source_per_hour,
            max_sources: o.max_sources_per_number,
            cooldown_ms: o.resend_cooldown_secs * 1000,
            per_hour: o.max_sends_per_hour,
            per_day: o.max_sends_per_day,
            sms_per_code: o.max_sms_per_code,
        }
    }

    /// The lockout limits.
    pub fn lockout_policy(&self) -> actors::domain::lockout::LockoutPolicy {
        let l = &self.lockout;
        actors::domain::lockout::LockoutPolicy {
            max_attempts: l.max_invalid_attempts,
            window_ms: i64::from(l.window_minutes) * 60_000,
            cooldown_ms: i64::from(l.cooldown_minutes) * 60_000,
            // never below the per-address count: a stranger's block comes before the account's lock
            sustained_max: l.sustained_failures.max(l.max_invalid_attempts),
            stranger_delay_ms: i64::try_from(l.stranger_block_secs * 1000).unwrap_or(i64::MAX),
        }
    }

    /// The OTP message catalogs: the built-in ones, or every `<locale>.toml` of `otp.messages_dir`.
    pub fn message_catalogs(
        &self,
    ) -> Result<actors::domain::messages::MessageCatalogs, ConfigError> {
        let fail = |path: &str, reason: String| ConfigError::Catalog {
            path: path.to_owned(),
            reason,
        };
        let mut locales = BTreeMap::new();
        if self.otp.messages_dir.is_empty() {
            for (locale, text) in BUILTIN_MESSAGES {
                let codes = toml::from_str(text)
                    .map_err(|e| fail("config/messages (built in)", e.to_string()))?;
                locales.insert((*locale).to_owned(), codes);
            }
        } else {
            locales = read_catalog_dir(Path::new(&self.otp.messages_dir))?;
        }
        actors::domain::messages::MessageCatalogs::new(locales, &self.otp.locale, self.sms_codes())
            .map_err(|e| fail("otp messages", e.to_string()))
    }

    /// The message code of each flow's SMS.
    pub fn sms_codes(&self) -> actors::domain::messages::SmsCodes {
        let c = &self.otp.sms_codes;
        let given = |code: &str| Some(code.trim().to_owned()).filter(|c| !c.is_empty());
        actors::domain::messages::SmsCodes {
            register: c.register.trim().to_owned(),
            login: c.login.trim().to_owned(),
            password_reset: c.passwordreset.trim().to_owned(),
            first_time: given(&c.first_time),
        }
    }

    /// Test numbers as (state tenant, mobile, code, last valid epoch ms).
    pub fn test_numbers(&self) -> Vec<(String, String, String, i64)> {
        self.otp
            .test_numbers
            .iter()
            .filter_map(|t| {
                Some((
                    t.tenant.clone(),
                    t.mobile.clone(),
                    t.code.clone(),
                    parse_day_end(&t.until)?,
                ))
            })
            .collect()
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

    /// The notice of a changed e-mail address, when `user.email_change_notice` is on.
    pub fn email_change_notice(&self) -> Option<actors::domain::notification::EmailChangeNotice> {
        let u = &self.user;
        u.email_change_notice
            .then(|| actors::domain::notification::EmailChangeNotice {
                subject: u.email_change_subject.clone(),
                message: u.email_change_message.clone(),
                sms: u.email_change_sms,
            })
    }

    /// The PII visibility policy of `privacy.policy_file` (the built-in one when empty).
    pub fn masking_policy(&self) -> Result<MaskingPolicy, ConfigError> {
        let file: PolicyFile = read_catalog(
            &self.privacy.policy_file,
            BUILTIN_PRIVACY,
            "config/privacy.toml",
        )?;
        file.into_policy().map_err(|reason| ConfigError::Catalog {
            path: display_catalog(&self.privacy.policy_file, "config/privacy.toml"),
            reason,
        })
    }
}

/// A network (`10.0.0.0/8`) or a single address (`10.1.2.3`, as `/32` or `/128`).
pub fn parse_network(raw: &str) -> Option<ipnet::IpNet> {
    let raw = raw.trim();
    raw.parse()
        .ok()
        .or_else(|| raw.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Every `<locale>.toml` catalog of `dir`: locale → code → text.
pub fn read_catalog_dir(
    dir: &Path,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ConfigError> {
    let fail = |path: &Path, reason: String| ConfigError::Catalog {
        path: path.display().to_string(),
        reason,
    };
    let mut locales = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| fail(dir, e.to_string()))? {
        let path = entry.map_err(|e| fail(dir, e.to_string()))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| fail(&path, e.to_string()))?;
            let codes = toml::from_str(&text).map_err(|e| fail(&path, e.to_string()))?;
            let locale = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            locales.insert(locale, codes);
        }
    }
    Ok(locales)
}

/// The last millisecond (UTC) of the day `YYYY-MM-DD`.
fn parse_day_end(day: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day.trim(), format).ok()?;
    Some(date.next_day()?.midnight().assume_utc().unix_timestamp() * 1000 - 1)
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
