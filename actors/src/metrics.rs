//! Every metric of digit-user: names, units, descriptions and label sets in one place — the domain's, and the
//! service crate's (HTTP, Kafka, process), which only records them. Labels carry only bounded values
//! (purpose, channel, result, reason, route pattern, status class, a configured state tenant) — never a
//! mobile number, user, IP or token. The exporter (`src/observability.rs`) calls [`describe`].

use std::collections::BTreeSet;
use std::sync::Arc;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// The `tenant` label: a known state tenant, else `other` — so a client inventing tenants cannot grow the
/// number of series.
#[derive(Debug, Clone, Default)]
pub struct TenantLabels {
    states: Arc<BTreeSet<Arc<str>>>,
    other: Arc<str>,
}

/// The label of a tenant that is not configured.
pub const OTHER_TENANT: &str = "other";

impl TenantLabels {
    /// Labels for these state tenants.
    pub fn new(states: impl IntoIterator<Item = String>) -> Self {
        Self {
            // labelled as tenants are compared: trimmed, lower case
            states: Arc::new(
                states
                    .into_iter()
                    .map(|s| Arc::from(s.trim().to_ascii_lowercase()))
                    .collect(),
            ),
            other: Arc::from(OTHER_TENANT),
        }
    }

    /// The label of `tenant` (any level: its state is what counts); shared, so an OTP session keeping it
    /// costs no allocation.
    pub fn label(&self, tenant: &str) -> Arc<str> {
        let state = tenant.trim().split('.').next().unwrap_or_default();
        // the hot path passes states already normalised: no allocation then
        let state: std::borrow::Cow<str> = if state.bytes().any(|b| b.is_ascii_uppercase()) {
            state.to_ascii_lowercase().into()
        } else {
            state.into()
        };
        self.states
            .get(state.as_ref())
            .unwrap_or(&self.other)
            .clone()
    }

    /// The label of a tenant that is not configured.
    pub fn other(&self) -> Arc<str> {
        self.other.clone()
    }
}

/// OTP sends by `purpose`, `tenant` and `result` (`new`, `resend`, `held`, `throttled`, `test_number`).
pub const OTP_SENDS: &str = "digit_user_otp_sends_total";
/// Notifications queued in the outbox by `purpose`, `tenant` and `channel` (`sms`, `email`).
pub const OTP_NOTIFICATIONS_QUEUED: &str = "digit_user_otp_notifications_queued_total";
/// Addresses blocked for a user after repeated failed logins from them (the account not locked).
pub const SOURCE_BLOCKS: &str = "digit_user_login_source_blocks_total";
/// Token requests refused before their credentials were checked: their address or subnet failed too often.
pub const LOGIN_THROTTLED: &str = "digit_user_login_throttled_total";
/// Masked personal fields a search showed in clear on a `plainAccessRequest`, by `field` (the policy's names).
pub const PLAIN_ACCESS: &str = "digit_user_plain_access_total";
/// Audit events written, by `kind` and `result` (`ok`, `failed`).
pub const AUDIT_EVENTS: &str = "digit_user_audit_events_total";
/// Audit events of the SIEM feed by `result`: `published` (the broker acknowledged), `failed` (kept,
/// retried), `dropped` (not queued: the queue was full; or pruned unpublished).
pub const AUDIT_PUBLISHED: &str = "digit_user_audit_published_total";
/// Audit events waiting for publication to the SIEM feed.
pub const AUDIT_FEED_DEPTH: &str = "digit_user_audit_feed_depth";
/// SMS-sending OTP requests by `country` (the code it went to: one of the states' rules') and `bucket` (the
/// number's first two digits: at most 100 values) — a spike in one bucket is a range being pumped.
pub const OTP_SENDS_BY_DESTINATION: &str = "digit_user_otp_sends_by_destination_total";
/// Refused sends by `reason` (`cooldown`, `hourly_cap`, `daily_cap`, `ip_cap`, `prefix_cap`, `state_cap`,
/// `source_cap`, `country`).
pub const OTP_THROTTLED: &str = "digit_user_otp_throttled_total";
/// Resends of a live code that sent nothing (answered as a success), by `reason` (`cooldown`, `per_code`,
/// `hourly_cap`, `daily_cap`, `ip_cap`).
pub const OTP_RESENDS_HELD: &str = "digit_user_otp_resends_held_total";
/// Validations by `purpose` (`any` when none was named), `tenant` and `result` (`success`, `invalid`,
/// `exhausted`, `test_number`).
pub const OTP_VALIDATIONS: &str = "digit_user_otp_validations_total";
/// Codes that expired unused, by `purpose`.
pub const OTP_EXPIRED: &str = "digit_user_otp_expired_total";
/// Live OTP session actors.
pub const OTP_SESSIONS_LIVE: &str = "digit_user_otp_sessions_live";
/// Notifications waiting in the outbox.
pub const OUTBOX_DEPTH: &str = "digit_user_outbox_depth";
/// Age of the oldest notification waiting in the outbox.
pub const OUTBOX_OLDEST_AGE_SECONDS: &str = "digit_user_outbox_oldest_age_seconds";
/// Delivery outcomes by `channel`, `sink`, `purpose`, `tenant` and `result` (`delivered`, `failed`,
/// `expired`).
pub const NOTIFICATIONS_DELIVERED: &str = "digit_user_notifications_total";
/// Time from queueing to the sink's acknowledgement, by `channel`.
pub const NOTIFICATION_DELIVERY_SECONDS: &str = "digit_user_notification_delivery_seconds";

/// Password-grant and refresh-grant logins by `grant`, `user_type` and `result` (`success`, `invalid`,
/// `locked`, `inactive`, `error`).
pub const LOGINS: &str = "digit_user_logins_total";
/// Accounts locked after repeated failed logins.
pub const LOCKOUTS: &str = "digit_user_lockouts_total";
/// Locks ended, by `reason` (`cooldown`, `admin`).
pub const UNLOCKS: &str = "digit_user_unlocks_total";
/// Spent refresh tokens presented after the grace window (the family is revoked).
pub const REFRESH_REUSE: &str = "digit_user_refresh_reuse_total";
/// Token revocations by `reason` (`logout`, `reuse`, `lockout`, `password_change`, `rotation`,
/// `deactivated`).
pub const REVOCATIONS: &str = "digit_user_token_revocations_total";
/// Hash and verify requests admitted to the hasher pool and not yet answered.
pub const HASHER_QUEUE_DEPTH: &str = "digit_user_hasher_queue_depth";
/// Time from admission to the hasher's answer, by `op` (`hash`, `verify`).
pub const HASHER_WAIT_SECONDS: &str = "digit_user_hasher_wait_seconds";
/// Requests refused because the hasher queue was full.
pub const HASHER_REJECTED: &str = "digit_user_hasher_rejected_total";
/// Live lockout actors.
pub const LOCKOUT_ACTORS_LIVE: &str = "digit_user_lockout_actors_live";
/// Messages that did not reach an actor, by `actor` (`otp_session`, `lockout`) and `kind` (`busy`,
/// `timeout`, `closed`).
pub const MAILBOX_ERRORS: &str = "digit_user_mailbox_errors_total";

/// HTTP requests by `route` (the matched pattern), `method` and `status` (`2xx` … `5xx`).
pub const HTTP_REQUESTS: &str = "digit_user_http_requests_total";
/// HTTP request duration by `route`.
pub const HTTP_SECONDS: &str = "digit_user_http_request_duration_seconds";
/// Bytes the store takes on disk.
pub const STORAGE_BYTES: &str = "digit_user_storage_bytes";
/// Always 1, labelled with `version` and `git_sha`.
pub const BUILD_INFO: &str = "digit_user_build_info";
/// Time from handing a record to Kafka to the broker's acknowledgement, by `channel`.
pub const KAFKA_PRODUCE_SECONDS: &str = "digit_user_kafka_produce_seconds";
/// 1 while the Kafka brokers answer, 0 while none is reachable.
pub const KAFKA_UP: &str = "digit_user_kafka_brokers_up";

/// Time from handing a change set to the journal to the brokers' acknowledgement of all of it.
pub const JOURNAL_APPEND_SECONDS: &str = "digit_user_journal_append_seconds";
/// Journal appends by `result` (`ok`, `failed`: outcome unknown, the partition settles before its next
/// write).
pub const JOURNAL_APPENDS: &str = "digit_user_journal_appends_total";
/// 1 while the journal acknowledges appends, 0 after an append failed and until one succeeds.
pub const JOURNAL_UP: &str = "digit_user_journal_up";
/// Partitions the group assigned to this pod, by `state`: `total`, `restored` (taken over — brought to the
/// journal's end — and served), `unservable` (the journal lost what the data dir applied: not served, see
/// the log).
pub const JOURNAL_PARTITIONS: &str = "digit_user_journal_partitions";
/// Appends that did not land where this pod expected (something else was written into the partition
/// first: a fenced writer's records, or another pod's claim).
pub const JOURNAL_GAPS: &str = "digit_user_journal_gaps_total";
/// Writes refused because another pod had claimed their partition (never acknowledged).
pub const JOURNAL_FENCED_WRITES: &str = "digit_user_journal_fenced_writes_total";
/// Claims this pod appended (a partition taken over or settled again).
pub const JOURNAL_CLAIMS: &str = "digit_user_journal_claims_total";
/// Takeover reads that a fetch ended before this pod's own claim (read again until past it).
pub const JOURNAL_SHORT_READS: &str = "digit_user_journal_short_reads_total";

/// Requests one pod sent to another, by `kind` (`forward`: to the key's owner, `fanout`: one leg of a
/// search, `otp`: an OTP check at the code's owner, `tally`: an abuse counter at the pod counting its key,
/// `audit`: an audit event at its user's pod) and `result` (`ok`, `unavailable`).
pub const CLUSTER_CALLS: &str = "digit_user_cluster_calls_total";
/// Partitions this pod serves.
pub const PARTITIONS_OWNED: &str = "digit_user_partitions_owned";
/// Partitions the group assigned to this pod (served, or being taken over).
pub const PARTITIONS_ASSIGNED: &str = "digit_user_partitions_assigned";
/// Rebalances that changed this pod's partitions, by `change`
/// (`assigned`, `revoked`).
pub const GROUP_REBALANCES: &str = "digit_user_group_rebalances_total";
/// Time from a partition's assignment to this pod serving it (claim and
/// replay).
pub const TAKEOVER_SECONDS: &str = "digit_user_takeover_seconds";
/// Partitions this pod follows as a warm standby.
pub const PARTITIONS_STANDBY: &str = "digit_user_partitions_standby";
/// Journal records this pod's standby copies are behind, summed over
/// the partitions it follows, as of each one's last read.
pub const STANDBY_LAG_RECORDS: &str = "digit_user_standby_lag_records";

/// The limits a send can meet (`Throttle::reason`): what refuses a new code and holds a resend.
const LIMITS: [&str; 7] = [
    "cooldown",
    "hourly_cap",
    "daily_cap",
    "ip_cap",
    "prefix_cap",
    "state_cap",
    "source_cap",
];

/// Creates the series of rare events at zero, so rates and alerts over them have data before the first one
/// happens (a counter that does not exist yet cannot be told from a broken exporter).
pub fn register_zero() {
    for reason in LIMITS.iter().chain(&["country"]) {
        metrics::counter!(OTP_THROTTLED, "reason" => *reason).increment(0);
    }
    for reason in LIMITS.iter().chain(&["per_code"]) {
        metrics::counter!(OTP_RESENDS_HELD, "reason" => *reason).increment(0);
    }
    metrics::counter!(LOCKOUTS).increment(0);
    metrics::counter!(SOURCE_BLOCKS).increment(0);
    metrics::counter!(LOGIN_THROTTLED).increment(0);
    for reason in ["cooldown", "admin"] {
        metrics::counter!(UNLOCKS, "reason" => reason).increment(0);
    }
    metrics::counter!(REFRESH_REUSE).increment(0);
    for reason in [
        "logout",
        "reuse",
        "lockout",
        "password_change",
        "rotation",
        "deactivated",
    ] {
        metrics::counter!(REVOCATIONS, "reason" => reason).increment(0);
    }
    metrics::counter!(HASHER_REJECTED).increment(0);
    for actor in ["otp_session", "lockout"] {
        for kind in ["busy", "timeout", "closed"] {
            metrics::counter!(MAILBOX_ERRORS, "actor" => actor, "kind" => kind).increment(0);
        }
    }
    for kind in ["forward", "fanout", "otp"] {
        for result in ["ok", "unavailable"] {
            metrics::counter!(CLUSTER_CALLS, "kind" => kind, "result" => result).increment(0);
        }
    }
    metrics::counter!(JOURNAL_GAPS).increment(0);
    metrics::counter!(JOURNAL_FENCED_WRITES).increment(0);
    metrics::counter!(JOURNAL_CLAIMS).increment(0);
    metrics::counter!(JOURNAL_SHORT_READS).increment(0);
    for change in ["assigned", "revoked"] {
        metrics::counter!(GROUP_REBALANCES, "change" => change).increment(0);
    }
    metrics::gauge!(OTP_SESSIONS_LIVE).set(0.0);
    metrics::gauge!(LOCKOUT_ACTORS_LIVE).set(0.0);
    metrics::gauge!(HASHER_QUEUE_DEPTH).set(0.0);
}

/// Registers the description and unit of every metric above.
pub fn describe() {
    describe_counter!(
        LOGINS,
        Unit::Count,
        "Logins on /user/oauth/token, by grant, user type and result"
    );
    describe_counter!(
        LOCKOUTS,
        Unit::Count,
        "Accounts locked after repeated failed logins"
    );
    describe_counter!(UNLOCKS, Unit::Count, "Account locks ended, by reason");
    describe_counter!(
        REFRESH_REUSE,
        Unit::Count,
        "Spent refresh tokens presented after the grace window"
    );
    describe_counter!(
        REVOCATIONS,
        Unit::Count,
        "Access-token and refresh-family revocations, by reason"
    );
    describe_gauge!(
        HASHER_QUEUE_DEPTH,
        Unit::Count,
        "Password hash/verify requests admitted and not yet answered"
    );
    describe_histogram!(
        HASHER_WAIT_SECONDS,
        Unit::Seconds,
        "Time from admission to the password hasher's answer, by operation"
    );
    describe_gauge!(LOCKOUT_ACTORS_LIVE, Unit::Count, "Live lockout actors");
    describe_counter!(
        CLUSTER_CALLS,
        Unit::Count,
        "Requests sent to other pods, by kind and result"
    );
    describe_gauge!(PARTITIONS_OWNED, Unit::Count, "Partitions this pod serves");
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests by route pattern, method and status class"
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "HTTP request duration by route pattern"
    );
    describe_gauge!(STORAGE_BYTES, Unit::Bytes, "Bytes the store takes on disk");
    describe_gauge!(BUILD_INFO, "Build of the running binary (always 1)");
    describe_histogram!(
        KAFKA_PRODUCE_SECONDS,
        Unit::Seconds,
        "Time from handing a notification to Kafka to the broker's acknowledgement"
    );
    describe_gauge!(
        KAFKA_UP,
        "1 while the Kafka brokers answer, 0 while none is reachable"
    );
    describe_histogram!(
        JOURNAL_APPEND_SECONDS,
        Unit::Seconds,
        "Time from handing a change set to the journal to the brokers' acknowledgement of all of it"
    );
    describe_counter!(
        JOURNAL_APPENDS,
        Unit::Count,
        "Journal appends by result (failed: outcome unknown)"
    );
    describe_gauge!(
        JOURNAL_UP,
        "1 while the journal acknowledges appends, 0 from a failed append until one succeeds"
    );
    describe_gauge!(
        JOURNAL_PARTITIONS,
        Unit::Count,
        "Partitions this pod serves, by state: total, restored, unservable"
    );
    describe_gauge!(
        PARTITIONS_ASSIGNED,
        Unit::Count,
        "Partitions the group assigned to this pod"
    );
    describe_counter!(
        GROUP_REBALANCES,
        Unit::Count,
        "Rebalances that changed this pod's partitions, by change"
    );
    describe_gauge!(
        PARTITIONS_STANDBY,
        Unit::Count,
        "Partitions this pod follows as a warm standby"
    );
    describe_gauge!(
        STANDBY_LAG_RECORDS,
        Unit::Count,
        "Journal records this pod's standby copies are behind"
    );
    describe_histogram!(
        TAKEOVER_SECONDS,
        Unit::Seconds,
        "Time from a partition's assignment to this pod serving it"
    );
    describe_counter!(
        JOURNAL_GAPS,
        Unit::Count,
        "Journal appends that landed after records this pod did not write"
    );
    describe_counter!(
        JOURNAL_FENCED_WRITES,
        Unit::Count,
        "Writes refused because another pod claimed their journal partition"
    );
    describe_counter!(
        JOURNAL_CLAIMS,
        Unit::Count,
        "Claims this pod appended to journal partitions"
    );
    describe_counter!(
        JOURNAL_SHORT_READS,
        Unit::Count,
        "Takeover reads that ended before this pod's own claim and were read again"
    );
    describe_counter!(
        MAILBOX_ERRORS,
        Unit::Count,
        "Messages that did not reach an actor, by actor and kind"
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest notification waiting in the outbox"
    );
    describe_counter!(
        HASHER_REJECTED,
        Unit::Count,
        "Password hash/verify requests refused because the queue was full"
    );
    describe_counter!(
        OTP_SENDS,
        Unit::Count,
        "OTP send requests accepted or refused, by purpose and result"
    );
    describe_counter!(
        SOURCE_BLOCKS,
        Unit::Count,
        "Addresses blocked for one user after repeated failed logins from them (the account itself not locked)"
    );
    describe_counter!(
        AUDIT_EVENTS,
        Unit::Count,
        "Audit events written (or failed to be), by kind and result"
    );
    describe_counter!(
        AUDIT_PUBLISHED,
        Unit::Count,
        "Audit events of the SIEM feed: published, failed (retried) or dropped"
    );
    describe_gauge!(
        AUDIT_FEED_DEPTH,
        Unit::Count,
        "Audit events waiting for publication to the SIEM feed"
    );
    describe_counter!(
        PLAIN_ACCESS,
        Unit::Count,
        "Masked personal fields a search showed in clear on a plainAccessRequest, by field"
    );
    describe_counter!(
        LOGIN_THROTTLED,
        Unit::Count,
        "Token requests refused before their credentials were checked: their address or subnet failed too often"
    );
    describe_counter!(
        OTP_SENDS_BY_DESTINATION,
        Unit::Count,
        "OTP sends that queued an SMS, by country code and the number's first two digits"
    );
    describe_counter!(
        OTP_NOTIFICATIONS_QUEUED,
        Unit::Count,
        "Notifications written to the outbox, by purpose and channel"
    );
    describe_counter!(
        OTP_THROTTLED,
        Unit::Count,
        "OTP sends refused by a limit, by reason"
    );
    describe_counter!(
        OTP_RESENDS_HELD,
        Unit::Count,
        "Resends of a live OTP that sent no SMS (inside the cooldown, past the per-code budget or a cap), by reason"
    );
    describe_counter!(
        OTP_VALIDATIONS,
        Unit::Count,
        "OTP validations, by purpose and result"
    );
    describe_counter!(
        OTP_EXPIRED,
        Unit::Count,
        "OTP codes that expired unused, by purpose"
    );
    describe_gauge!(OTP_SESSIONS_LIVE, Unit::Count, "Live OTP session actors");
    describe_gauge!(
        OUTBOX_DEPTH,
        Unit::Count,
        "Notifications waiting in the outbox"
    );
    describe_counter!(
        NOTIFICATIONS_DELIVERED,
        Unit::Count,
        "Notification deliveries, by channel, sink and result"
    );
    describe_histogram!(
        NOTIFICATION_DELIVERY_SECONDS,
        Unit::Seconds,
        "Time from queueing a notification to its delivery"
    );
}
