//! The audit trail's writer: events of existing users, recorded off the request path (the answer does not
//! wait; the write is group-committed with the others and goes through the journal), and never a value of
//! personal data, a password, a code or a token. An event is written by the pod serving its user's partition
//! (asked through `/cluster/audit` when that is another pod). A write that fails is logged and counted, not
//! retried.

use std::sync::Arc;

use actors::Clock;
use actors::domain::audit::{AuditEvent, AuditKind};
use actors::domain::update::UserFields;
use actors::metrics::AUDIT_EVENTS;
use actors::store::Store;

use crate::cluster::api::AuditRecord;
use crate::cluster::{Cluster, Owner};

/// Records audit events.
#[derive(Clone)]
pub struct Audit {
    store: Arc<Store>,
    clock: Clock,
    route: Option<Arc<Cluster>>,
}

impl Audit {
    /// A writer into `store`'s trail.
    pub fn new(store: Arc<Store>, clock: Clock) -> Self {
        Self {
            store,
            clock,
            route: None,
        }
    }

    /// The same, handing events of users another pod serves to that pod.
    pub fn routed(mut self, cluster: Option<Arc<Cluster>>) -> Self {
        self.route = cluster;
        self
    }

    /// Records `kind` for user `uuid`, done by `actor` (left out when it is the user), now.
    pub fn record(&self, uuid: &str, actor: Option<&str>, kind: AuditKind) {
        let Ok(user) = uuid::Uuid::parse_str(uuid) else {
            return;
        };
        let event = AuditEvent {
            at: self.clock.now_ms(),
            actor: actor.filter(|a| *a != uuid).map(str::to_owned),
            kind,
        };
        let (store, route) = (self.store.clone(), self.route.clone());
        actix_web::rt::spawn(async move {
            let name = event.kind.name();
            let home = store.homes().of_uuid(&user);
            let written = match route
                .as_ref()
                .filter(|c| c.sharded())
                .map(|c| (c, c.owner(home)))
            {
                Some((cluster, Owner::Peer(ordinal))) => cluster
                    .audit_at(ordinal, &AuditRecord { user, event })
                    .await
                    .map_err(|e| e.to_string()),
                _ => store
                    .audit()
                    .record(&user, &event)
                    .await
                    .map_err(|e| e.to_string()),
            };
            let result = match written {
                Ok(()) => "ok",
                Err(e) => {
                    tracing::warn!(error = %e, kind = name, "an audit event was not recorded");
                    "failed"
                }
            };
            metrics::counter!(AUDIT_EVENTS, "kind" => name, "result" => result).increment(1);
        });
    }
}

/// The wire names of the fields an update or a create sets (names only, never values).
pub fn fields_set(f: &UserFields) -> Vec<String> {
    let set = |on: bool, name: &'static str| on.then_some(name);
    let address = |a: &actors::domain::Address| {
        a.address.is_some() || a.city.is_some() || a.pincode.is_some()
    };
    [
        set(f.salutation.is_some(), "salutation"),
        set(f.name.is_some(), "name"),
        set(f.gender.is_some(), "gender"),
        set(f.mobile_number.is_some(), "mobileNumber"),
        set(f.alt_mobile_number.is_some(), "alternatemobilenumber"),
        set(f.email_id.is_some(), "emailId"),
        set(f.alt_contact_number.is_some(), "altContactNumber"),
        set(f.pan.is_some(), "pan"),
        set(f.aadhaar_number.is_some(), "aadhaarNumber"),
        set(address(&f.permanent_address), "permanentAddress"),
        set(address(&f.correspondence_address), "correspondenceAddress"),
        set(f.active.is_some(), "active"),
        set(f.locale.is_some(), "locale"),
        set(f.user_type.is_some(), "type"),
        set(f.account_locked.is_some(), "accountLocked"),
        set(f.guardian.is_some(), "fatherOrHusbandName"),
        set(f.relationship.is_some(), "relationship"),
        set(f.signature.is_some(), "signature"),
        set(f.blood_group.is_some(), "bloodGroup"),
        set(f.photo.is_some(), "photo"),
        set(f.identification_mark.is_some(), "identificationMark"),
        set(f.dob.is_some(), "dob"),
    ]
    .into_iter()
    .flatten()
    .map(str::to_owned)
    .collect()
}
