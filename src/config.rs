//! Configuration: typed settings and their layering (product.md section 6).
//!
//! Layers, later ones win: `config/default.toml` as compiled in → `config/default.toml` in the working
//! directory → `--config FILE` / `DIGIT_USER_CONFIG` → `DIGIT_USER__SECTION__KEY` env → DIGIT Spring names
//! (`[digit]` table, then Spring-style env vars) → command-line flags.
//!
//! The compiled-in file is the only place defaults live: the settings structs have no serde defaults and deny
//! unknown fields, so that file must carry every key (a test checks it) and a misspelt key anywhere stops
//! start-up with its name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actors::domain::mobile::{MobileRules, MobileRulesFile};
use actors::domain::password::{PasswordPolicy, PolicyKind};
use actors::domain::roles::{RoleCatalog, RoleCatalogFile};
use actors::hasher::HashCost;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use serde::{Deserialize, Serialize};

/// The shipped configuration, compiled in: the built-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const BUILTIN_ROLES: &str = include_str!("../config/roles.toml");
const BUILTIN_MOBILE: &str = include_str!("../config/mobile.toml");

/// Prefix of the environment variables that set keys: `DIGIT_USER__SECTION__KEY`.
pub const ENV_PREFIX: &str = "DIGIT_USER__";

/// DIGIT Spring property names and the key each sets.
pub const SPRING_NAMES: &[(&str, &str)] = &[
    ("egov.user.search.default.size", "user.search_default_size"),
    ("create.user.validate.name", "user.validate_name_on_create"),
    (
        "default.password.expiry.in.days",
        "user.default_password_expiry_days",
    ),
    (
        "mobile.number.validation.workaround.enabled",
        "user.mobile_validation_workaround",
    ),
    ("egov.user.pwd.pattern.min.length", "password.min_length"),
    ("egov.user.pwd.pattern.max.length", "password.max_length"),
    ("max.invalid.login.attempts", "lockout.max_invalid_attempts"),
    (
        "max.invalid.login.attempts.period.minutes",
        "lockout.window_minutes",
    ),
    (
        "account.unlock.cool.down.period.minutes",
        "lockout.cooldown_minutes",
    ),
    (
        "access.token.validity.in.minutes",
        "tokens.access_validity_minutes",
    ),
    (
        "refresh.token.validity.in.minutes",
        "tokens.refresh_validity_minutes",
    ),
    (
        "egov.mobile.validation.default.country.code",
        "mobile.default_country_code",
    ),
    (
        "egov.mobile.validation.default.regex",
        "mobile.default_regex",
    ),
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

/// Where environment variables come from (the process, or a map in tests).
pub trait EnvSource {
    /// The variable's value.
    fn var(&self, name: &str) -> Option<String>;
    /// Every `(name, value)`.
    fn vars(&self) -> Vec<(String, String)>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

/// An environment given as a map (tests, embedding).
#[derive(Debug, Clone, Default)]
pub struct MapEnv(pub std::collections::HashMap<String, String>);

impl MapEnv {
    /// An environment of `(name, value)` pairs.
    pub fn of(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

impl EnvSource for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn vars(&self) -> Vec<(String, String)> {
        self.0.clone().into_iter().collect()
    }
}

impl Settings {
    /// Loads the layered configuration from the process environment and working directory.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(overrides, Path::new("config/default.toml"), &ProcessEnv)
    }

    /// Loads the layered configuration with an explicit on-disk default file and environment.
    pub fn load_from(
        overrides: &Overrides,
        disk_default: &Path,
        env: &dyn EnvSource,
    ) -> Result<Self, ConfigError> {
        let mut files = Figment::from(Toml::string(DEFAULT_TOML));
        if disk_default.is_file() {
            files = files.merge(Toml::file_exact(disk_default));
        }
        if let Some(path) = &overrides.config_file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.clone()));
            }
            files = files.merge(Toml::file_exact(path));
        }
        let mut figment = files.clone();
        for (name, value) in env
            .vars()
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        {
            let key = name[ENV_PREFIX.len()..].replace("__", ".").to_lowercase();
            figment = figment.merge(Named::new(
                format!("environment variable {name}"),
                &key,
                parse_env_value(&value),
            ));
        }

        // DIGIT Spring names: first the [digit] table of the files, then Spring-style env vars.
        let table: BTreeMap<String, Value> = match files.find_value("digit") {
            Ok(v) => v.deserialize().map_err(ConfigError::from)?,
            Err(_) => BTreeMap::new(),
        };
        for (name, value) in &table {
            let key =
                spring_key(name).ok_or_else(|| ConfigError::UnknownSpringName(name.clone()))?;
            figment = figment.merge(Named::new(
                format!("[digit] \"{name}\""),
                key,
                value.clone(),
            ));
        }
        for (name, key) in SPRING_NAMES {
            if let Some(value) = env.var(&spring_env_name(name)) {
                let var = spring_env_name(name);
                figment = figment.merge(Named::new(
                    format!("environment variable {var}"),
                    key,
                    parse_env_value(&value),
                ));
            }
        }

        if let Some(v) = &overrides.data_dir {
            figment = figment.merge(Named::new(
                "--data-dir",
                "storage.data_dir",
                Value::from(v.display().to_string()),
            ));
        }
        if let Some(v) = &overrides.public_addr {
            figment = figment.merge(Named::new(
                "--listen",
                "http.public_addr",
                Value::from(v.clone()),
            ));
        }
        if let Some(v) = &overrides.internal_addr {
            figment = figment.merge(Named::new(
                "--internal-listen",
                "http.internal_addr",
                Value::from(v.clone()),
            ));
        }
        let settings: Settings = figment.extract()?;
        settings.check_ranges()?;
        Ok(settings)
    }

    fn check_ranges(&self) -> Result<(), ConfigError> {
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

/// Our key for a DIGIT Spring property name.
pub fn spring_key(name: &str) -> Option<&'static str> {
    SPRING_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
}

/// The environment variable Spring binds to a property: upper case, dots to underscores.
pub fn spring_env_name(name: &str) -> String {
    name.replace(['.', '-'], "_").to_uppercase()
}

/// One value set by an environment variable or flag, named in error messages.
struct Named {
    source: String,
    key: String,
    value: Value,
}

impl Named {
    fn new(source: impl Into<String>, key: &str, value: Value) -> Self {
        Self {
            source: source.into(),
            key: key.to_owned(),
            value,
        }
    }
}

impl figment::Provider for Named {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.source.clone())
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

fn parse_env_value(raw: &str) -> Value {
    raw.parse().unwrap_or_else(|never| match never {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> MapEnv {
        MapEnv::of(pairs)
    }

    fn load(
        files: &[(&str, &str)],
        vars: &[(&str, &str)],
        overrides: Overrides,
    ) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut overrides = overrides;
        let mut disk = dir.path().join("absent.toml");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            if *name == "default.toml" {
                disk = path;
            } else {
                overrides.config_file = Some(path);
            }
        }
        Settings::load_from(&overrides, &disk, &env(vars))
    }

    #[test]
    fn the_shipped_file_alone_carries_every_key() {
        // no serde defaults exist: this only loads if config/default.toml has every key
        let s = load(&[], &[], Overrides::default()).unwrap();
        assert_eq!(s.http.public_addr, "0.0.0.0:8080");
        assert_eq!(s.http.internal_addr, "0.0.0.0:8081");
        assert_eq!(s.storage.data_dir, PathBuf::from("./data"));
        assert_eq!(s.lockout.max_invalid_attempts, 5);
        assert_eq!(s.user.search_default_size, 10);
        assert_eq!(
            s.user.create_roles,
            ["SUPERUSER", "CSR", "TL_APPROVER", "TL_CEMP"]
        );
        assert_eq!(s.password.policy, PolicyKind::Digit);
        assert!(s.catalogs().is_ok());
    }

    #[test]
    fn every_spring_name_is_documented_in_the_shipped_file() {
        for (name, key) in SPRING_NAMES {
            assert!(DEFAULT_TOML.contains(name), "{name} is not documented");
            assert!(
                DEFAULT_TOML.contains(&format!("-> {key}")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn layers_apply_in_order() {
        let files = [
            ("default.toml", "[user]\nsearch_default_size = 11\n"),
            ("extra.toml", "[user]\nsearch_default_size = 12\n"),
        ];
        assert_eq!(
            load(&files[..1], &[], Overrides::default())
                .unwrap()
                .user
                .search_default_size,
            11
        );
        assert_eq!(
            load(&files, &[], Overrides::default())
                .unwrap()
                .user
                .search_default_size,
            12
        );
        let with_env = load(
            &files,
            &[("DIGIT_USER__USER__SEARCH_DEFAULT_SIZE", "13")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(with_env.user.search_default_size, 13);
        let with_spring = load(
            &files,
            &[
                ("DIGIT_USER__USER__SEARCH_DEFAULT_SIZE", "13"),
                ("EGOV_USER_SEARCH_DEFAULT_SIZE", "14"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(with_spring.user.search_default_size, 14);
    }

    #[test]
    fn spring_names_work_in_the_digit_table_and_as_env() {
        let table = load(
            &[(
                "extra.toml",
                "[digit]\n\"max.invalid.login.attempts\" = 3\n",
            )],
            &[],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(table.lockout.max_invalid_attempts, 3);
        let env_wins = load(
            &[(
                "extra.toml",
                "[digit]\n\"max.invalid.login.attempts\" = 3\n",
            )],
            &[("MAX_INVALID_LOGIN_ATTEMPTS", "4")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(env_wins.lockout.max_invalid_attempts, 4);
        let s = load(
            &[],
            &[
                ("ACCESS_TOKEN_VALIDITY_IN_MINUTES", "60"),
                ("EGOV_MOBILE_VALIDATION_DEFAULT_REGEX", "^[0-9]{10}$"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.tokens.access_validity_minutes, 60);
        assert_eq!(s.mobile.default_regex, "^[0-9]{10}$");
    }

    #[test]
    fn flags_win_over_everything() {
        let overrides = Overrides {
            data_dir: Some("/tmp/x".into()),
            public_addr: Some("127.0.0.1:1".into()),
            ..Default::default()
        };
        let s = load(
            &[],
            &[("DIGIT_USER__STORAGE__DATA_DIR", "/tmp/y")],
            overrides,
        )
        .unwrap();
        assert_eq!(s.storage.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.http.public_addr, "127.0.0.1:1");
    }

    #[test]
    fn unknown_keys_fail_naming_the_key() {
        let err = load(
            &[("extra.toml", "[http]\npublik_addr = \"x\"\n")],
            &[],
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("publik_addr"), "{err}");
        let err = load(
            &[],
            &[("DIGIT_USER__HTTP__WORKERZ", "2")],
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("workerz"), "{err}");
        let err = load(
            &[("extra.toml", "[nosuch]\na = 1\n")],
            &[],
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nosuch"), "{err}");
        let err = load(
            &[("extra.toml", "[digit]\n\"max.invalid.login.attemps\" = 3\n")],
            &[],
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("digit.max.invalid.login.attemps"), "{err}");
    }

    #[test]
    fn bad_values_and_missing_files_fail() {
        let err = load(
            &[],
            &[("DIGIT_USER__USER__SEARCH_DEFAULT_SIZE", "lots")],
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("search_default_size"), "{err}");
        let missing = Overrides {
            config_file: Some("/nonexistent/digit.toml".into()),
            ..Default::default()
        };
        assert!(matches!(
            load(&[], &[], missing),
            Err(ConfigError::MissingFile(_))
        ));
        assert!(matches!(
            load(
                &[("extra.toml", "[password]\nmin_length = 20\n")],
                &[],
                Overrides::default()
            ),
            Err(ConfigError::Range(_))
        ));
        let bad_catalog = load(
            &[(
                "extra.toml",
                "[catalog]\nroles_file = \"/nonexistent/roles.toml\"\n",
            )],
            &[],
            Overrides::default(),
        )
        .unwrap();
        assert!(bad_catalog.catalogs().is_err());
    }
}
