//! `/user/_details` is the gateway's hot path: every authenticated request of the platform verifies one
//! access token. This measures what the handler does for it — JWT signature and expiry, opening the sealed
//! snapshot, two lookups in the revocation set — with an empty set and with 100 000 revocations loaded.
//!
//! Run: `cargo bench --bench details` (release build).

use std::sync::Arc;

use actors::Clock;
use actors::domain::{TenantId, UserRecord, UserType};
use actors::seal::{BlindIndexer, KEY_LEN, Keyring};
use actors::store::{Store, StoreKeys, StoreOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use digit_user::service::sessions::{Client, Lifetimes, Sessions};
use digit_user::service::tokens::TokenCodec;

fn store(dir: &std::path::Path) -> Arc<Store> {
    let keys = StoreKeys {
        keyring: Keyring::new(&[(1, [1; KEY_LEN])]).unwrap(),
        blind: BlindIndexer::new(&[2; KEY_LEN]),
    };
    let opts = StoreOptions {
        path: dir.to_owned(),
        cache_capacity_bytes: 64 << 20,
        flush_every_ms: None,
        commit_queue: 1 << 20,
        partitions: 256,
    };
    Arc::new(Store::open(&opts, keys).unwrap())
}

fn user(store: &Store, i: usize) -> UserRecord {
    let tenant = TenantId::parse("pb.amritsar").unwrap();
    let name = format!("EMP-{i}");
    let (id, uuid) = store.users().mint_ids(&tenant, &name).unwrap();
    let json = serde_json::json!({
        "id": id, "uuid": uuid, "tenant_id": "pb.amritsar", "user_type": UserType::Employee,
        "user_name": name, "password_hash": null, "salutation": null, "name": "Asha Devi", "gender": null,
        "mobile_number": "9876543210", "country_code": "+91", "alt_mobile_number": null,
        "email_id": "asha@example.org", "alt_contact_number": null, "pan": null, "aadhaar_number": null,
        "permanent_address": null, "correspondence_address": null, "active": true, "locale": "en_IN",
        "account_locked": false, "account_locked_date": null, "guardian": null, "relationship": null,
        "signature": null, "blood_group": null, "photo": null, "identification_mark": null,
        "created_by": null, "last_modified_by": null, "created_date": 1, "last_modified_date": 1,
        "dob": null, "pwd_expiry_date": 2,
        "roles": [{"code": "EMPLOYEE", "name": "Employee", "tenant_id": "pb.amritsar"}],
    });
    serde_json::from_value(json).unwrap()
}

fn details(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let life = Lifetimes {
        access_ms: 10080 * 60_000,
        refresh_ms: 20160 * 60_000,
        grace_ms: 10_000,
    };
    let runtime = actix_web::rt::System::new();
    let sessions = Sessions::load(
        std::sync::Arc::new(TokenCodec::from_key(&[7; KEY_LEN])),
        store.clone(),
        Clock::System,
        life,
    )
    .unwrap();
    let token = runtime
        .block_on(sessions.open(&user(&store, 0), "read", &Client::default()))
        .unwrap()
        .access_token;
    assert!(sessions.verify(&token).is_ok());
    c.bench_function("details_verify/empty_revocation_set", |b| {
        b.iter(|| sessions.verify(std::hint::black_box(&token)).unwrap())
    });

    // 100 000 revoked sessions (logouts; a few hundred when `cargo test` runs this once), then the same
    // verification. Logouts go in concurrent batches so group commit batches their flushes.
    let revoked = if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        200
    };
    runtime.block_on(async {
        for batch in (1..=revoked).collect::<Vec<_>>().chunks(1000) {
            let logouts = batch.iter().map(|i| {
                let (sessions, user) = (&sessions, user(&store, *i));
                async move {
                    let issued = sessions
                        .open(&user, "read", &Client::default())
                        .await
                        .unwrap();
                    sessions.logout(&issued.access_token).await.unwrap();
                }
            });
            futures_util::future::join_all(logouts).await;
        }
    });
    c.bench_function("details_verify/100k_revocations", |b| {
        b.iter(|| sessions.verify(std::hint::black_box(&token)).unwrap())
    });
}

criterion_group!(benches, details);
criterion_main!(benches);
