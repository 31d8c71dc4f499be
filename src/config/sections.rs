//! The sections of the configuration: one struct per `[section]` of `config/default.toml`. No serde
//! defaults and unknown fields denied, so the shipped file must carry every key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use actors::domain::password::PolicyKind;
use serde::{Deserialize, Serialize};

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
    /// Longest string any request field may hold, characters.
    pub max_string_chars: usize,
    /// Time for a request's headers to arrive, seconds.
    pub header_timeout_secs: u64,
    /// Time for a request's body to arrive once its headers are in, seconds.
    pub body_timeout_secs: u64,
    /// Grace period for in-flight requests on shutdown, seconds.
    pub shutdown_timeout_secs: u64,
    /// Wait bound for internal workers, seconds.
    pub request_timeout_secs: u64,
    /// Client IP from forwarded headers.
    pub trust_forwarded_headers: bool,
    /// Proxies (CIDRs or addresses) whose forwarding headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Threads for long store work (searches); 0 = one per core.
    pub bulk_threads: usize,
    /// Long jobs waiting for a bulk thread at most.
    pub bulk_queue: usize,
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
    /// Change sets a running backup may hold in memory.
    pub backup_max_changes: usize,
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

/// Sharding (ARCHITECTURE.md, "Sharding"; README, "Operating at scale").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Partition count; fixed for the life of a deployment.
    pub partitions: u16,
    /// This pod's ordinal; -1 = from the hostname `<name>-<ordinal>`.
    pub ordinal: i32,
    /// The StatefulSet's name.
    pub name: String,
    /// A peer's internal address, `{name}` and `{ordinal}` replaced.
    pub peer_template: String,
    /// Peer internal addresses by ordinal, instead of the template (one machine, tests); [] = template.
    pub peers: Vec<String>,
    /// Milliseconds a forwarded request or a fan-out leg may take before the caller gets a 503.
    pub forward_timeout_ms: u64,
    /// How long the group waits for a silent pod before it gives its partitions to the others, ms.
    pub session_timeout_ms: u64,
    /// How long a pod losing a partition lets the requests inside it finish, ms.
    pub drain_ms: u64,
    /// How long a pod whose partition was revoked still answers for it at most, waiting for the
    /// next owner to say it has taken it over, ms.
    pub handover_ms: u64,
    /// How long a pod whose assignment was lost with the group's coordinator out of reach (a broker
    /// outage, or the pod cut off) keeps answering for its partitions from its copy, unless another pod's
    /// newer claim is announced first, ms.
    pub unreachable_hold_ms: u64,
    /// How long a request for a partition nobody serves (or whose owner stopped answering) waits
    /// for the next owner before its retryable 503, ms.
    pub owner_wait_ms: u64,
    /// The internal address the other pods reach this one at; "" = `peers[ordinal]`, else the
    /// template.
    pub advertise: String,
}

/// The tenants the deployment serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The deployment's state-level tenant (DIGIT's `state.level.tenant.id`); empty = not named.
    pub state_level: String,
    /// The states served; empty = the states the role and mobile catalogs name (and `state_level`).
    pub states: Vec<String>,
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
    /// A profile update that changes the e-mail address tells the old address.
    pub email_change_notice: bool,
    /// ... and the user's mobile number, by SMS.
    pub email_change_sms: bool,
    /// The e-mail's subject.
    pub email_change_subject: String,
    /// The text (`{oldEmail}`, `{newEmail}` replaced).
    pub email_change_message: String,
    /// A profile update that changes the e-mail address needs the current password or an OTP.
    pub profile_update_recheck: bool,
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
    /// Nice value added to the hasher threads.
    pub nice: i32,
}

/// One test number with a fixed code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestNumber {
    /// State tenant.
    pub tenant: String,
    /// Mobile number.
    pub mobile: String,
    /// The fixed code.
    pub code: String,
    /// Last day it works (`YYYY-MM-DD`, inclusive, UTC).
    pub until: String,
}

/// OTP codes and their limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtpSettings {
    /// Digits per code.
    pub length: u32,
    /// Code lifetime, seconds.
    pub ttl_secs: i64,
    /// Wrong tries at a number's live codes per client address (a code lives on for the others).
    pub max_attempts: u8,
    /// Wrong tries a code survives from every address together (the bound on guessing it).
    pub max_attempts_total: u8,
    /// SMS to one number per client address per hour (its share of `max_sends_per_hour`).
    pub max_sends_per_source_per_hour: u32,
    /// Client addresses a number's session counts apart (past it they share one count).
    pub max_sources_per_number: usize,
    /// Seconds between two SMS to one number.
    pub resend_cooldown_secs: i64,
    /// SMS per number per hour.
    pub max_sends_per_hour: u32,
    /// SMS per number per day.
    pub max_sends_per_day: u32,
    /// SMS one code goes out in at most (first send and resends).
    pub max_sms_per_code: u32,
    /// Sends per client IP per hour.
    pub max_sends_per_ip_per_hour: u32,
    /// Client IPs tracked at most.
    pub max_tracked_ips: usize,
    /// Digits of a number that make its prefix (the per-prefix cap).
    pub prefix_digits: usize,
    /// SMS per number prefix per state per velocity window.
    pub max_sends_per_prefix: u32,
    /// SMS per state per velocity window (a ceiling).
    pub max_sends_per_state: u32,
    /// The rolling window of the prefix and state caps, seconds.
    pub velocity_window_secs: u64,
    /// Number prefixes tracked at most.
    pub max_tracked_prefixes: usize,
    /// Default message locale.
    pub locale: String,
    /// Catalog directory; empty = built in.
    pub messages_dir: String,
    /// Idle seconds before a session without live codes stops.
    pub session_idle_secs: u64,
    /// Live sessions at most.
    pub max_sessions: usize,
    /// DIGIT's fixed citizen OTP switch.
    pub fixed_otp_enabled: bool,
    /// DIGIT's fixed citizen OTP.
    pub fixed_otp_value: String,
    /// Test numbers.
    pub test_numbers: Vec<TestNumber>,
    /// `[otp.sms_codes]`
    pub sms_codes: SmsCodeSettings,
}

/// The message code of each flow's SMS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsCodeSettings {
    /// `type: register`
    pub register: String,
    /// `type: login`
    pub login: String,
    /// `type: passwordreset`
    pub passwordreset: String,
    /// A login or reset of a user who still has the password an admin set; empty = the flow's code.
    pub first_time: String,
}

/// Notification delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// `auto`, `file` or `kafka`.
    pub sink: SinkKind,
    /// File sink path; empty = `<data dir>/notifications.jsonl`.
    pub file: String,
    /// SMS expiryTime offset, ms.
    pub sms_expiry_ms: i64,
    /// Batch size.
    pub batch: usize,
    /// Idle poll, ms.
    pub poll_ms: u64,
    /// Back-off bounds, ms.
    pub backoff_min_ms: u64,
    /// Back-off bounds, ms.
    pub backoff_max_ms: u64,
    /// Outbox depth above which sends answer 503.
    pub max_outbox_depth: usize,
    /// Shutdown drain bound, seconds.
    pub shutdown_drain_secs: u64,
}

/// Notification sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// `kafka` when brokers are configured, else `file`.
    Auto,
    /// Append JSON lines to a local file.
    File,
    /// Publish to Kafka.
    Kafka,
}

/// Metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// State tenants with a label of their own; empty = the catalogs' states.
    pub tenants: Vec<String>,
}

/// Kafka.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap brokers, comma-separated; empty = none.
    pub brokers: String,
    /// SMS topic.
    pub sms_topic: String,
    /// E-mail topic.
    pub email_topic: String,
    /// Topic of SMS that carry no code (the notice of a changed e-mail address).
    pub notice_topic: String,
    /// Central instance: topics get the tenant's schema as prefix.
    pub central_instance: bool,
    /// Which dot-separated tenant segment is the schema.
    pub schema_index: usize,
    /// A message not acknowledged by the broker within this long fails and is retried from the outbox, ms.
    pub delivery_timeout_ms: u64,
    /// librdkafka settings passed through (security.protocol, sasl.*, ssl.*, ...).
    pub properties: BTreeMap<String, String>,
}

/// The replicated journal on Kafka: whether it is on, its topics, its timeouts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    /// With `kafka.brokers` set, writes last in the journal (off: a single pod on sled + fsync alone).
    pub enabled: bool,
    /// A write whose append is not acknowledged within this long fails with a retryable 503, ms.
    pub produce_timeout_ms: u64,
    /// Topic of the partitioned state (one Kafka partition per partition of ours).
    pub topic: String,
    /// Topic of the revocations every pod reads.
    pub revocations_topic: String,
    /// Replicas of each topic partition.
    pub replication_factor: u16,
    /// Replicas that must hold a write before it is acknowledged.
    pub min_insync_replicas: u16,
    /// Timeout of an admin request to the brokers, ms.
    pub admin_timeout_ms: u64,
    /// How often a pod compares the end of every partition it writes to with where it expects it (a
    /// fenced writer's records found and their keys repaired), ms.
    pub fence_check_ms: u64,
    /// `min.compaction.lag.ms` the journal topic is created with and checked for, ms: far above
    /// `fence_check_ms`, so a repair lands before compaction could drop a value a fenced record hid.
    pub min_compaction_lag_ms: u64,
    /// The consumer group whose assignment of the journal topic decides
    /// which pod serves which partition.
    pub group: String,
    /// The compacted topic where each pod announces what it serves and its
    /// address.
    pub members_topic: String,
    /// The compacted topic of imported users' homes (their ids and uuids carry no partition), every pod
    /// reads whole.
    pub directory_topic: String,
    /// How many pods besides the owner follow each partition as warm
    /// standbys (0..=8).
    pub standby_replicas: u16,
    /// How often a standby reads its partitions' new records, ms.
    pub standby_poll_ms: u64,
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
    /// Failures from addresses the user never logged in from, inside the window, that lock the account.
    pub sustained_failures: u32,
    /// The first block of an address after `max_invalid_attempts` failures from it, seconds (doubling up
    /// to the cool-down).
    pub stranger_block_secs: u64,
    /// Live lockout actors at most.
    pub max_actors: usize,
    /// Idle seconds before an unlocked lockout actor stops.
    pub idle_secs: u64,
}

/// How users log in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    /// Citizens log in with an OTP.
    pub citizen_otp_login: bool,
    /// Non-citizens log in with an OTP.
    pub employee_otp_login: bool,
    /// Citizen registration requires the OTP.
    pub register_otp_mandatory: bool,
    /// Citizen registration answers with tokens.
    pub register_with_login: bool,
    /// Failed token requests per client address in the window, across users.
    pub max_failures_per_address: u32,
    /// Failed token requests per subnet (IPv4 /24, IPv6 /48) in the window.
    pub max_failures_per_subnet: u32,
    /// The window of those counts, seconds.
    pub failure_window_secs: u64,
    /// Addresses and subnets tracked at most.
    pub max_tracked_addresses: usize,
}

/// Who sees which personal data in user searches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    /// Searches mask PII by the caller's roles (DIGIT: `decryption.abac.enabled`).
    pub abac_enabled: bool,
    /// The policy file; "" = the built-in copy of `config/privacy.toml`.
    pub policy_file: String,
}

/// The audit trail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Days an audit event is kept.
    pub retention_days: u32,
    /// Kafka topic every event is also published to (a SIEM's); "" = none.
    pub kafka_topic: String,
    /// Events at most waiting for publication; past it new events are kept in the trail only.
    pub feed_max_pending: usize,
}

/// What answers may tell a guesser.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// The account-revealing answers (an OTP send for an unknown or a registered number, the no-login
    /// password update of an unknown user, "Account locked") answer as for any other account.
    pub uniform_answers: bool,
    /// With `uniform_answers`, those flows answer no sooner than this many ms after the request arrived.
    pub answer_floor_ms: u64,
}

/// An OAuth client of `/user/oauth/token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    /// `client_id`
    pub id: String,
    /// Its secret (may be empty, as DIGIT's).
    pub secret: String,
}

/// Tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Access token lifetime, minutes.
    pub access_validity_minutes: u64,
    /// Refresh token lifetime, minutes.
    pub refresh_validity_minutes: u64,
    /// Grace window for a spent refresh token, seconds.
    pub refresh_grace_secs: u64,
    /// After a token signing key is replaced, tokens of the previous one verify this long, seconds (at
    /// least the access token's validity).
    pub previous_key_grace_secs: u64,
    /// Accepted clients.
    pub clients: Vec<OAuthClient>,
}
