//! The checks a configuration passes after its layers merged: ranges, formats and the relations between
//! keys. A failure names the key and what it must be.

use super::{ConfigError, Settings, SinkKind, parse_day_end, parse_network};

impl Settings {
    pub(crate) fn check_ranges(&self) -> Result<(), ConfigError> {
        let fail = |m: &str| Err(ConfigError::Range(m.to_owned()));
        if self.cluster.partitions == 0 {
            return fail("cluster.partitions must be at least 1");
        }
        if self.cluster.ordinal < -1 || self.cluster.ordinal >= i32::from(u16::MAX) {
            return fail("cluster.ordinal must be -1 (from the hostname) or a pod ordinal");
        }
        if self.cluster.peers.is_empty()
            && self.cluster.advertise.is_empty()
            && self.journal_on()
            && !self.cluster.peer_template.contains("{ordinal}")
        {
            return fail("cluster.peer_template must contain {ordinal}");
        }
        if !(100..=60_000).contains(&self.cluster.forward_timeout_ms) {
            return fail("cluster.forward_timeout_ms must be between 100 and 60000");
        }
        if self.password.min_length == 0 || self.password.min_length > self.password.max_length {
            return fail("password.min_length must be between 1 and password.max_length");
        }
        if let Some(bad) = self
            .http
            .trusted_proxies
            .iter()
            .find(|p| parse_network(p).is_none())
        {
            return fail(&format!(
                "http.trusted_proxies: {bad:?} is not a network (10.0.0.0/8) or an address"
            ));
        }
        if !(1..=300).contains(&self.http.header_timeout_secs)
            || !(1..=300).contains(&self.http.body_timeout_secs)
        {
            return fail(
                "http.header_timeout_secs and body_timeout_secs must be between 1 and 300",
            );
        }
        if self.http.max_string_chars < 256 {
            return fail("http.max_string_chars must be at least 256");
        }
        if self.http.max_body_bytes < 1024 {
            return fail("http.max_body_bytes must be at least 1024");
        }
        if self.http.bulk_queue == 0 {
            return fail("http.bulk_queue must be at least 1");
        }
        if self.user.search_default_size == 0 {
            return fail("user.search_default_size must be at least 1");
        }
        let state = self.tenants.state_level.trim();
        if !state.is_empty()
            && !actors::domain::TenantId::parse(state).is_ok_and(|t| t.is_state_level())
        {
            return fail(
                "tenants.state_level must be a state-level tenant such as \"pb\" (no \".\")",
            );
        }
        if let Some(bad) = self
            .tenants
            .states
            .iter()
            .find(|s| !actors::domain::TenantId::parse(s).is_ok_and(|t| t.is_state_level()))
        {
            return fail(&format!(
                "tenants.states: {bad:?} is not a state-level tenant such as \"pb\""
            ));
        }
        let o = &self.otp;
        if !(4..=10).contains(&o.length) {
            return fail("otp.length must be between 4 and 10");
        }
        if o.ttl_secs < 1
            || o.max_attempts < 1
            || o.max_sends_per_hour < 1
            || o.max_sends_per_day < 1
            || !(1..=u32::from(u8::MAX)).contains(&o.max_sms_per_code)
        {
            return fail(
                "otp.ttl_secs, max_attempts, max_sends_per_hour, max_sends_per_day and max_sms_per_code must be at least 1 (max_sms_per_code at most 255)",
            );
        }
        if !(3..=15).contains(&o.prefix_digits) {
            return fail("otp.prefix_digits must be between 3 and 15");
        }
        if o.max_sends_per_prefix < 1
            || o.max_sends_per_state < 1
            || o.max_tracked_prefixes < 1
            || !(60..=7 * 86_400).contains(&o.velocity_window_secs)
        {
            return fail(
                "otp.max_sends_per_prefix, max_sends_per_state and max_tracked_prefixes must be at least 1, \
                 velocity_window_secs between 60 and 604800",
            );
        }
        if o.max_sends_per_ip_per_hour < 1 || o.max_tracked_ips < 1 || o.max_sessions < 1 {
            return fail(
                "otp.max_sends_per_ip_per_hour, max_tracked_ips and max_sessions must be at least 1",
            );
        }
        if o.max_attempts_total < o.max_attempts
            || o.max_sends_per_source_per_hour < 1
            || !(1..=1024).contains(&o.max_sources_per_number)
        {
            return fail(
                "otp.max_attempts_total must be at least max_attempts, max_sends_per_source_per_hour at least 1 \
                 and max_sources_per_number between 1 and 1024",
            );
        }
        if self.tokens.previous_key_grace_secs
            < self.tokens.access_validity_minutes.saturating_mul(60)
        {
            return fail(
                "tokens.previous_key_grace_secs must be at least tokens.access_validity_minutes (in seconds): \
                 a shorter grace logs out whoever holds a token of the previous key",
            );
        }
        if !(1..=36_500).contains(&self.audit.retention_days) {
            return fail("audit.retention_days must be between 1 and 36500");
        }
        if !self.audit.kafka_topic.is_empty() && self.kafka.brokers.trim().is_empty() {
            return fail(
                "audit.kafka_topic needs kafka.brokers: the audit feed is published to Kafka",
            );
        }
        if !(1..=10_000_000).contains(&self.audit.feed_max_pending) {
            return fail("audit.feed_max_pending must be between 1 and 10000000");
        }
        if self.security.answer_floor_ms > 10_000 {
            return fail(
                "security.answer_floor_ms must be at most 10000 (a longer floor outlasts clients' timeouts)",
            );
        }
        if o.resend_cooldown_secs < 0 {
            return fail("otp.resend_cooldown_secs must not be negative");
        }
        for t in &o.test_numbers {
            if t.code.len() != o.length as usize || !t.code.bytes().all(|b| b.is_ascii_digit()) {
                return fail(&format!(
                    "otp.test_numbers: the code of a test number must be {} digits",
                    o.length
                ));
            }
            if parse_day_end(&t.until).is_none() {
                return fail("otp.test_numbers: `until` must be a date YYYY-MM-DD");
            }
        }
        if self.notify.batch == 0
            || self.notify.backoff_min_ms == 0
            || self.notify.backoff_min_ms > self.notify.backoff_max_ms
        {
            return fail(
                "notify.batch must be at least 1 and 0 < backoff_min_ms <= backoff_max_ms",
            );
        }
        let g = &self.login;
        if g.max_failures_per_address == 0
            || g.max_failures_per_subnet < g.max_failures_per_address
            || g.max_tracked_addresses == 0
            || !(60..=86_400).contains(&g.failure_window_secs)
        {
            return fail(
                "login.max_failures_per_address must be at least 1, max_failures_per_subnet at least it, \
                 max_tracked_addresses at least 1 and failure_window_secs between 60 and 86400",
            );
        }
        let l = &self.lockout;
        if l.sustained_failures == 0 || !(1..=86_400).contains(&l.stranger_block_secs) {
            return fail(
                "lockout.sustained_failures must be at least 1 and stranger_block_secs between 1 and 86400",
            );
        }
        if l.max_invalid_attempts == 0
            || l.window_minutes == 0
            || l.cooldown_minutes == 0
            || l.max_actors == 0
        {
            return fail(
                "lockout.max_invalid_attempts, window_minutes, cooldown_minutes and max_actors must be at least 1",
            );
        }
        let t = &self.tokens;
        if t.access_validity_minutes == 0 || t.refresh_validity_minutes == 0 {
            return fail(
                "tokens.access_validity_minutes and refresh_validity_minutes must be at least 1",
            );
        }
        if t.clients.is_empty()
            || t.clients
                .iter()
                .any(|c| c.id.is_empty() || c.id.contains(':'))
        {
            return fail(
                "tokens.clients needs at least one client, each with a non-empty id without ':'",
            );
        }
        if self.notify.sink == SinkKind::Kafka && self.kafka.brokers.trim().is_empty() {
            return fail("notify.sink = \"kafka\" needs kafka.brokers");
        }
        if self.kafka.sms_topic.trim().is_empty()
            || self.kafka.email_topic.trim().is_empty()
            || self.kafka.notice_topic.trim().is_empty()
            || self.kafka.delivery_timeout_ms < 1000
        {
            return fail(
                "kafka.sms_topic, email_topic and notice_topic must be set and kafka.delivery_timeout_ms at least 1000",
            );
        }
        if let Some(owned) = self
            .kafka
            .properties
            .keys()
            .find(|k| crate::kafka::OWNED.contains(&k.as_str()))
        {
            return fail(&format!(
                "kafka.properties may not set `{owned}`: the service sets it (use kafka.brokers / kafka.delivery_timeout_ms)"
            ));
        }
        self.check_journal().map_err(ConfigError::Range)?;
        if self.storage.backup_max_changes == 0 {
            return fail("storage.backup_max_changes must be at least 1");
        }
        if self.hasher.queue == 0 {
            return fail("hasher.queue must be at least 1");
        }
        if !(0..=19).contains(&self.hasher.nice) {
            return fail("hasher.nice must be between 0 and 19");
        }
        if let Err(e) = self.hash_cost_params() {
            return fail(&format!("hasher cost: {e}"));
        }
        regex::Regex::new(&self.mobile.default_regex)
            .map_err(|e| ConfigError::Range(format!("mobile.default_regex: {e}")))?;
        Ok(())
    }
}

impl Settings {
    fn check_journal(&self) -> Result<(), String> {
        let j = &self.journal;
        for (key, topic) in [
            ("journal.topic", &j.topic),
            ("journal.revocations_topic", &j.revocations_topic),
            ("journal.members_topic", &j.members_topic),
            ("journal.directory_topic", &j.directory_topic),
        ] {
            if !is_topic_name(topic) {
                return Err(format!(
                    "{key} must be a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -"
                ));
            }
            if [
                &self.kafka.sms_topic,
                &self.kafka.email_topic,
                &self.kafka.notice_topic,
            ]
            .contains(&topic)
            {
                return Err(format!("{key} must not be a notification topic"));
            }
        }
        let topics = [
            &j.topic,
            &j.revocations_topic,
            &j.members_topic,
            &j.directory_topic,
        ];
        if (1..topics.len()).any(|i| topics[..i].contains(&topics[i])) {
            return Err(
                "journal.topic, journal.revocations_topic, journal.members_topic and \
                 journal.directory_topic must differ"
                    .into(),
            );
        }
        if j.replication_factor == 0 || !(1..=j.replication_factor).contains(&j.min_insync_replicas)
        {
            return Err(
                "journal.replication_factor must be at least 1 and journal.min_insync_replicas between 1 and it"
                    .into(),
            );
        }
        if j.admin_timeout_ms < 1000 {
            return Err("journal.admin_timeout_ms must be at least 1000".into());
        }
        if !(500..=60_000).contains(&j.produce_timeout_ms) {
            return Err("journal.produce_timeout_ms must be between 500 and 60000".into());
        }
        if !(1000..=3_600_000).contains(&j.fence_check_ms) {
            return Err("journal.fence_check_ms must be between 1000 and 3600000".into());
        }
        if j.min_compaction_lag_ms < j.fence_check_ms.saturating_mul(10) {
            return Err(
                "journal.min_compaction_lag_ms must be at least 10 × journal.fence_check_ms (a repair must land \
                 before compaction)"
                    .into(),
            );
        }
        if j.standby_replicas > 8 {
            return Err("journal.standby_replicas must be between 0 and 8".into());
        }
        if !(100..=60_000).contains(&j.standby_poll_ms) {
            return Err("journal.standby_poll_ms must be between 100 and 60000".into());
        }
        let c = &self.cluster;
        if !(6000..=300_000).contains(&c.session_timeout_ms) {
            return Err("cluster.session_timeout_ms must be between 6000 and 300000".into());
        }
        if !(100..=30_000).contains(&c.drain_ms) {
            return Err("cluster.drain_ms must be between 100 and 30000".into());
        }
        if !(1000..=60_000).contains(&c.handover_ms) {
            return Err("cluster.handover_ms must be between 1000 and 60000".into());
        }
        if c.unreachable_hold_ms > 3_600_000 {
            return Err("cluster.unreachable_hold_ms must be between 0 and 3600000".into());
        }
        if c.owner_wait_ms > 10_000 {
            return Err("cluster.owner_wait_ms must be between 0 and 10000".into());
        }
        Ok(())
    }
}

/// Kafka's rule for topic names (and not `.` or `..`).
fn is_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
