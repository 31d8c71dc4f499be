//! Every metric the domain records: names, units, descriptions and label sets in one place. Labels carry only
//! bounded values (purpose, channel, result, reason) — never a mobile number, user, IP or token.
//! The exporter and dashboards are the service crate's; [`describe`] registers the descriptions.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// OTP sends by `purpose` and `result` (`new`, `resend`, `throttled`, `test_number`, `error`).
pub const OTP_SENDS: &str = "digit_user_otp_sends_total";
/// Notifications queued in the outbox by `purpose` and `channel` (`sms`, `email`).
pub const OTP_NOTIFICATIONS_QUEUED: &str = "digit_user_otp_notifications_queued_total";
/// Refused sends by `reason` (`cooldown`, `hourly_cap`, `daily_cap`, `ip_cap`).
pub const OTP_THROTTLED: &str = "digit_user_otp_throttled_total";
/// Validations by `purpose` (`any` when none was named) and `result` (`success`, `invalid`, `exhausted`,
/// `test_number`, `error`).
pub const OTP_VALIDATIONS: &str = "digit_user_otp_validations_total";
/// Codes that expired unused, by `purpose`.
pub const OTP_EXPIRED: &str = "digit_user_otp_expired_total";
/// Live OTP session actors.
pub const OTP_SESSIONS_LIVE: &str = "digit_user_otp_sessions_live";
/// Notifications waiting in the outbox.
pub const OUTBOX_DEPTH: &str = "digit_user_outbox_depth";
/// Delivery outcomes by `channel`, `sink` and `result` (`delivered`, `failed`, `expired`).
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
/// Token revocations by `reason` (`logout`, `reuse`, `lockout`, `password_change`, `rotation`).
pub const REVOCATIONS: &str = "digit_user_token_revocations_total";
/// Hash and verify requests admitted to the hasher pool and not yet answered.
pub const HASHER_QUEUE_DEPTH: &str = "digit_user_hasher_queue_depth";
/// Time from admission to the hasher's answer, by `op` (`hash`, `verify`).
pub const HASHER_WAIT_SECONDS: &str = "digit_user_hasher_wait_seconds";
/// Requests refused because the hasher queue was full.
pub const HASHER_REJECTED: &str = "digit_user_hasher_rejected_total";

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
