//! What tests share — the crate's unit tests, its integration tests and the service's: a store under a
//! directory with fixed test keys, a valid employee, and a wait for the effects of a clock advance.
//! Compiled for tests only (`cfg(test)` or the `testing` feature, which the crate's own dev-dependency on
//! itself turns on): never part of a build that serves.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::user::Role;
use crate::domain::{TenantId, UserRecord, UserType};
use crate::seal::{BlindIndexer, KEY_LEN, Keyring};
use crate::store::{JournalPort, Store, StoreError, StoreKeys, StoreOptions};

mod memory_journal;
pub use memory_journal::{MemoryJournal, Weather};

/// A store under `dir` sealed with key 1 = `[seal; 32]` and blind-indexed with `[blind; 32]`.
pub fn store_with_keys(dir: &Path, seal: u8, blind: u8) -> Result<Store, StoreError> {
    open_with(dir, seal, blind, None)
}

/// A store under `dir` with the test keys whose writes last in `journal`.
pub fn journaled_store(dir: &Path, journal: Arc<dyn JournalPort>) -> Result<Store, StoreError> {
    open_with(dir, 1, 2, Some(journal))
}

fn open_with(
    dir: &Path,
    seal: u8,
    blind: u8,
    journal: Option<Arc<dyn JournalPort>>,
) -> Result<Store, StoreError> {
    let keys = StoreKeys {
        keyring: Keyring::new(&[(1, [seal; KEY_LEN])])?,
        blind: BlindIndexer::new(&[blind; KEY_LEN]),
    };
    let opts = StoreOptions {
        path: dir.to_owned(),
        cache_capacity_bytes: 8 << 20,
        flush_every_ms: None,
        commit_queue: 1024,
        partitions: 256,
    };
    Store::open_journaled(&opts, keys, journal)
}

/// The OTP policy of the tests: DIGIT's defaults (6 digits, 10 minutes, 5 tries, 30 s between sends, 5 an
/// hour, 10 a day, 3 SMS per code); one address may use all of them.
pub const OTP_POLICY: crate::domain::otp::OtpPolicy = crate::domain::otp::OtpPolicy {
    length: 6,
    ttl_ms: 600_000,
    max_attempts: 5,
    attempts_per_source: 5,
    sends_per_source: 5,
    max_sources: 16,
    cooldown_ms: 30_000,
    per_hour: 5,
    per_day: 10,
    sms_per_code: 3,
};

/// Every entry of every state tree, as stored: two stores with equal contents hold the same state.
pub fn contents(store: &Store) -> std::collections::BTreeMap<(u8, Vec<u8>), Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for tree in crate::store::TreeId::ALL {
        for kv in store.writes.tree(tree).iter() {
            let (k, v) = kv.expect("a readable tree");
            out.insert((tree as u8, k.to_vec()), v.to_vec());
        }
    }
    out
}

/// A store under `dir` with the test keys (`[1; 32]`, `[2; 32]`), shared.
pub fn open_store(dir: &Path) -> Arc<Store> {
    Arc::new(store_with_keys(dir, 1, 2).expect("open the test store"))
}

/// A live session family of the employee with uuid `user` that never expires.
pub fn employee_family(user: &str) -> crate::store::Family {
    crate::store::Family {
        user: user.to_owned(),
        user_type: "EMPLOYEE".into(),
        scope: "read".into(),
        expires_ms: i64::MAX,
        access_jti: uuid::Uuid::new_v4().to_string(),
        access_expires_ms: i64::MAX,
        revoked: false,
        opened: None,
        last_used: None,
    }
}

/// A valid, active employee of `pb.amritsar` named `user_name` with ids minted by `store` (not stored).
pub fn employee(store: &Store, user_name: &str) -> UserRecord {
    let tenant = TenantId::parse("pb.amritsar").expect("a valid tenant");
    let (id, uuid) = store
        .users()
        .mint_ids(&tenant, user_name)
        .expect("ids minted");
    user_record(id, uuid, user_name)
}

/// An employee of pb.amritsar with these ids, not stored.
pub fn user_record(id: i64, uuid: String, user_name: &str) -> UserRecord {
    let tenant = TenantId::parse("pb.amritsar").expect("a valid tenant");
    UserRecord {
        id,
        uuid,
        tenant_id: tenant.clone(),
        user_type: UserType::Employee,
        user_name: user_name.into(),
        password_hash: None,
        salutation: None,
        name: Some("Asha Devi".into()),
        gender: None,
        mobile_number: Some("9876543210".into()),
        country_code: Some("+91".into()),
        alt_mobile_number: None,
        email_id: None,
        alt_contact_number: None,
        pan: None,
        aadhaar_number: None,
        permanent_address: None,
        correspondence_address: None,
        active: true,
        locale: None,
        account_locked: false,
        account_locked_date: None,
        guardian: None,
        relationship: None,
        signature: None,
        blood_group: None,
        photo: None,
        identification_mark: None,
        created_by: None,
        last_modified_by: None,
        created_date: 1,
        last_modified_date: 1,
        dob: None,
        pwd_expiry_date: 2,
        roles: vec![Role {
            code: "EMPLOYEE".into(),
            name: "Employee".into(),
            tenant_id: tenant,
        }],
        default_pwd_changed: true,
    }
}

/// [`employee`], stored.
pub async fn stored_employee(store: &Store, user_name: &str) -> UserRecord {
    let record = employee(store, user_name);
    store
        .users()
        .insert(&record)
        .await
        .expect("the employee stored");
    record
}

/// Waits until `done` answers true, polling every 5 ms for at most 5 s of real time, and panics naming
/// `what` otherwise. For the effects of a clock advance: a timer the clock reached fires on its actor's next
/// turn, and what it stores lands after the store's flusher thread ran — this waits for those turns, never
/// for a span of time the test means.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(Instant::now() < give_up, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An SMS notification as the OTP store queues it: `text` to `mobile`, under `message_id`.
pub fn sms_record(message_id: &str, mobile: &str, text: &str) -> crate::store::OutboxRecord {
    crate::store::OutboxRecord {
        message_id: message_id.into(),
        notification: crate::domain::notification::Notification::Sms {
            mobile: mobile.into(),
            message: text.into(),
            country_code: None,
        },
        created_ms: 5,
        expires_ms: None,
        attempts: 0,
        last_error: None,
        tenant: None,
        labels: None,
    }
}
