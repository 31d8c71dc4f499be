//! How the configuration layers combine (product.md section 6), later ones winning:
//! `config/default.toml` as compiled in → `config/default.toml` in the working directory → `--config FILE` /
//! `DIGIT_USER_CONFIG` → `DIGIT_USER__SECTION__KEY` env → DIGIT Spring names (`[digit]` table, then
//! Spring-style env vars) → command-line flags. Every value set by env, `[digit]` or a flag is a named layer,
//! so an error says where the bad value came from.

use std::collections::BTreeMap;
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;

use super::{ConfigError, DEFAULT_TOML, Overrides, Settings};

/// Prefix of the environment variables that set keys: `DIGIT_USER__SECTION__KEY`.
pub const ENV_PREFIX: &str = "DIGIT_USER__";

/// DIGIT Spring property names and the key each sets.
pub const SPRING_NAMES: &[(&str, &str)] = &[
    ("state.level.tenant.id", "tenants.state_level"),
    ("egov.state.level.tenant.id", "tenants.state_level"),
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
    ("decryption.abac.enabled", "privacy.abac_enabled"),
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
    ("egov.otp.length", "otp.length"),
    ("egov.otp.ttl", "otp.ttl_secs"),
    ("egov.localization.default.locale", "otp.locale"),
    (
        "citizen.login.password.otp.fixed.enabled",
        "otp.fixed_otp_enabled",
    ),
    (
        "citizen.login.password.otp.fixed.value",
        "otp.fixed_otp_value",
    ),
    ("expiry.time.for.otp", "notify.sms_expiry_ms"),
    ("kafka.config.bootstrap_server_config", "kafka.brokers"),
    ("sms.topic", "kafka.sms_topic"),
    ("email.topic", "kafka.email_topic"),
    (
        "kafka.topics.notification.sms.topic.name",
        "kafka.notice_topic",
    ),
    ("is.environment.central.instance", "kafka.central_instance"),
    ("state.schema.index.position.tenantid", "kafka.schema_index"),
    (
        "citizen.login.password.otp.enabled",
        "login.citizen_otp_login",
    ),
    (
        "employee.login.password.otp.enabled",
        "login.employee_otp_login",
    ),
    (
        "otp.validation.register.mandatory",
        "login.register_otp_mandatory",
    ),
    (
        "citizen.registration.withlogin.enabled",
        "login.register_with_login",
    ),
];

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
        refuse_retired(&figment)?;
        let settings: Settings = figment.extract()?;
        settings.check_ranges()?;
        Ok(settings)
    }
}

/// Keys of earlier versions that would now mislead, and what to do instead.
const RETIRED: &[(&str, &str)] = &[
    (
        "cluster.replicas",
        "how many pods share the partitions is how many run: Kafka's consumer group on the journal topic \
         assigns them (scale with `kubectl scale`)",
    ),
    (
        "cluster.map_file",
        "there is no partition map: Kafka's consumer group on the journal topic assigns the partitions \
         (`digit-user admin cluster-status` shows who serves each)",
    ),
    (
        "cluster.ownership",
        "with the journal on, Kafka's consumer group on the journal topic always decides ownership; \
         with it off, one pod serves every partition",
    ),
];

/// Refuses a retired key, naming the layer that set it.
fn refuse_retired(figment: &Figment) -> Result<(), ConfigError> {
    for (key, instead) in RETIRED {
        if figment.find_value(key).is_ok() {
            let layer = figment
                .find_metadata(key)
                .map_or_else(String::new, |m| match &m.source {
                    Some(source) => format!("{} {source}", m.name),
                    None => m.name.to_string(),
                });
            return Err(ConfigError::Retired {
                key,
                layer,
                instead,
            });
        }
    }
    Ok(())
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
mod tests;
