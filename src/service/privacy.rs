//! What a caller sees of the users a search found: the PII policy (`config/privacy.toml`) applied by the
//! caller's roles when `privacy.abac_enabled`, and every plain-access request that unmasked something
//! recorded.

use std::sync::Arc;

use actors::domain::UserRecord;
use actors::domain::masking::{MaskingPolicy, PiiField, Viewer};
use actors::metrics::PLAIN_ACCESS;

/// The policy and its switch.
#[derive(Debug, Clone)]
pub struct Privacy {
    policy: Arc<MaskingPolicy>,
    enabled: bool,
}

impl Privacy {
    /// `policy`, applied when `enabled`.
    pub fn new(policy: Arc<MaskingPolicy>, enabled: bool) -> Self {
        Self { policy, enabled }
    }

    /// The policy (also what an update's masked values are recognised by).
    pub fn policy(&self) -> &Arc<MaskingPolicy> {
        &self.policy
    }

    /// `users` as `viewer` may see them, and the plain access that granted (to be [`recorded`](Self::record)
    /// where the request is served: a page may be masked on a bulk thread, which records nothing).
    pub fn mask(
        &self,
        mut users: Vec<UserRecord>,
        viewer: &Viewer,
    ) -> (Vec<UserRecord>, Vec<Granted>) {
        let mut granted = Vec::new();
        if !self.enabled {
            return (users, granted);
        }
        for user in &mut users {
            let shown = self.policy.show(user, viewer);
            if !shown.unmasked.is_empty() {
                granted.push(Granted {
                    record: user.uuid.clone(),
                    fields: shown.unmasked,
                });
            }
        }
        (users, granted)
    }

    /// Logs, counts and audits the plain access a [`mask`](Self::mask) granted `viewer`.
    pub fn record(&self, granted: Vec<Granted>, viewer: &Viewer, audit: &super::audit::Audit) {
        for Granted { record, fields } in granted {
            plain_access(viewer, &record, &fields);
            let fields = fields.iter().map(|f| f.as_str().to_owned()).collect();
            audit.record(
                &record,
                viewer.uuid.as_deref(),
                actors::domain::audit::AuditKind::PlainAccess { fields },
            );
        }
    }
}

/// Plain access a masking granted: whose record, which fields.
#[derive(Debug)]
pub struct Granted {
    record: String,
    fields: Vec<PiiField>,
}

/// Records a plain-access request that was granted: who, whose record, which fields (never their values).
fn plain_access(viewer: &Viewer, record: &str, fields: &[PiiField]) {
    let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
    tracing::info!(
        target: "digit_user::audit",
        caller = viewer.uuid.as_deref().unwrap_or("-"),
        record,
        fields = ?names,
        "plain access granted"
    );
    for field in fields {
        metrics::counter!(PLAIN_ACCESS, "field" => field.as_str()).increment(1);
    }
}
