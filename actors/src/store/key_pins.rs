//! Which key of each key list this data dir uses — sealing, token signing, OTP pepper — and since when, in
//! the `cluster` tree beside the sequence floor. A key added for a rotation is loaded (it opens, verifies,
//! checks) before it is used; a pod that restarts meanwhile keeps using the key it used, so no pod uses a
//! key another pod cannot read yet. Nothing pinned (a new data dir): the highest id of each list.

use serde::{Deserialize, Serialize};

use super::{CLUSTER, Store, StoreError};

const KEY_PINS: &[u8] = b"key_pins";

/// The key one list uses here, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPin {
    /// The key id.
    pub id: u32,
    /// Since when it is used, epoch ms (a previous key's grace runs from then).
    pub since_ms: i64,
}

/// The keys this data dir uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPins {
    /// The sealing key.
    pub sealing: Option<KeyPin>,
    /// The token signing key.
    pub token: Option<KeyPin>,
    /// The OTP pepper.
    pub pepper: Option<KeyPin>,
}

impl Store {
    /// The keys this data dir uses (none pinned yet: all `None`).
    pub fn key_pins(&self) -> Result<KeyPins, StoreError> {
        match self.db.open_tree(CLUSTER)?.get(KEY_PINS)? {
            Some(raw) => Ok(serde_json::from_slice(&raw)?),
            None => Ok(KeyPins::default()),
        }
    }

    /// Keeps `pins` (on disk before it returns).
    pub fn pin_keys(&self, pins: &KeyPins) -> Result<(), StoreError> {
        let cluster = self.db.open_tree(CLUSTER)?;
        cluster.insert(KEY_PINS, serde_json::to_vec(pins)?)?;
        cluster.flush()?;
        Ok(())
    }

    /// The sealing keyring (replaceable while running).
    pub fn keyring(&self) -> &crate::seal::Keyring {
        &self.keyring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_back_after_a_reopen_and_start_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store_with_keys(dir.path(), 1, 2).unwrap();
        assert_eq!(store.key_pins().unwrap(), KeyPins::default());
        let pins = KeyPins {
            sealing: Some(KeyPin {
                id: 2,
                since_ms: 10,
            }),
            token: None,
            pepper: Some(KeyPin { id: 1, since_ms: 5 }),
        };
        store.pin_keys(&pins).unwrap();
        drop(store);
        let store = crate::testing::store_with_keys(dir.path(), 1, 2).unwrap();
        assert_eq!(store.key_pins().unwrap(), pins);
    }
}
