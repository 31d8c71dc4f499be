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
