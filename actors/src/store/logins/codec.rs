//! How login state is written: sealed like users, bound to its tree and key, so the data dir shows neither
//! whose sessions it holds nor when they logged in. Values an earlier build wrote as plain JSON are still
//! read (a sealed value starts with its key id, big-endian: never `{`).

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::seal::Keyring;
use crate::store::writes::TreeId;
use crate::store::{StoreError, aad};

/// Seals and opens the values of the login trees.
#[derive(Clone)]
pub struct Codec {
    keyring: Arc<Keyring>,
}

impl Codec {
    /// A codec sealing under `keyring`.
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self { keyring }
    }

    /// `value`, sealed for `key` of `tree`.
    pub fn seal<T: Serialize>(
        &self,
        tree: TreeId,
        key: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(value)?);
        Ok(self.keyring.seal(&plain, &aad(tree.name(), key))?)
    }

    /// The value stored at `key` of `tree` (sealed, or plain JSON of an earlier build).
    pub fn open<T: DeserializeOwned>(
        &self,
        tree: TreeId,
        key: &[u8],
        raw: &[u8],
    ) -> Result<T, StoreError> {
        if raw.first() == Some(&b'{') {
            return Ok(serde_json::from_slice(raw)?);
        }
        let plain = zeroize::Zeroizing::new(self.keyring.open(raw, &aad(tree.name(), key))?);
        Ok(serde_json::from_slice(&plain)?)
    }
}
