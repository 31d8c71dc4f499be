//! What the actor tests share: a store under a temp dir with fixed test keys.

use std::sync::Arc;

use ::actors::seal::{BlindIndexer, KEY_LEN, Keyring};
use ::actors::store::{Store, StoreKeys, StoreOptions};

/// A store under `dir` (sealing key 1 = `[1; 32]`, blind-index key `[2; 32]`).
pub fn open_store(dir: &std::path::Path) -> Arc<Store> {
    let keys = StoreKeys {
        keyring: Keyring::new(&[(1, [1; KEY_LEN])]).unwrap(),
        blind: BlindIndexer::new(&[2; KEY_LEN]),
    };
    let opts = StoreOptions {
        path: dir.to_owned(),
        cache_capacity_bytes: 8 << 20,
        flush_every_ms: None,
        commit_queue: 1024,
        partitions: 256,
    };
    Arc::new(Store::open(&opts, keys).unwrap())
}

/// Stores an active employee `user_name` in `pb.amritsar` and returns it.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub async fn stored_employee(store: &Store, user_name: &str) -> ::actors::domain::UserRecord {
    use ::actors::domain::{TenantId, UserRecord, UserType};
    let tenant = TenantId::parse("pb.amritsar").unwrap();
    let (id, uuid) = store.users().mint_ids(&tenant, user_name).unwrap();
    let record = UserRecord {
        id,
        uuid,
        tenant_id: tenant,
        user_type: UserType::Employee,
        user_name: user_name.into(),
        password_hash: None,
        salutation: None,
        name: None,
        gender: None,
        mobile_number: None,
        country_code: None,
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
        roles: vec![],
        default_pwd_changed: false,
    };
    store.users().insert(&record).await.unwrap();
    record
}

/// Waits until `done` answers true, polling every 5 ms for at most 5 s of real time, and panics naming
/// `what` otherwise. For the effects of a clock advance: a timer the clock reached fires on its actor's next
/// turn, and what it stores lands after the store's flusher thread ran — this waits for those turns, never
/// for a span of time the test means.
#[allow(dead_code)] // not every test binary that shares this module needs it
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done().await {
        assert!(
            std::time::Instant::now() < give_up,
            "never happened: {what}"
        );
        actix::clock::sleep(std::time::Duration::from_millis(5)).await;
    }
}
