//! Where a user lives whose id and uuid carry no partition. Ids and uuids minted here carry their user's home
//! partition ([`crate::partition`]); those of users moved in from egov-user do not (other DIGIT services hold
//! them as they are), so their home — the partition their userName routes to — is kept here, filled from the
//! journal's directory topic on every pod. A key not here is one of ours: its own bits say its home.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::partition::{Partition, partition_of_id, partition_of_uuid};

/// A key other services name a user by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HomeKey {
    /// The numeric id.
    Id(i64),
    /// The uuid.
    Uuid(uuid::Uuid),
}

/// The homes of imported users, by id and by uuid.
#[derive(Debug, Default)]
pub struct Homes {
    ids: RwLock<HashMap<i64, u16>>,
    uuids: RwLock<HashMap<uuid::Uuid, u16>>,
}

impl Homes {
    /// Keeps `home` as the partition of `key` (a later entry for the key replaces it).
    pub fn learn(&self, key: HomeKey, home: u16) {
        match key {
            HomeKey::Id(id) => {
                self.ids
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, home);
            }
            HomeKey::Uuid(uuid) => {
                self.uuids
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(uuid, home);
            }
        }
    }

    /// The home the directory gives the user with `id`, if it gives one (an imported user).
    pub fn learned_id(&self, id: i64) -> Option<Partition> {
        self.ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
            .map(Partition)
    }

    /// The home partition of the user with `id`.
    pub fn of_id(&self, id: i64) -> Partition {
        let imported = self
            .ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied();
        imported.map_or_else(|| partition_of_id(id), Partition)
    }

    /// The home partition of the user with `uuid`.
    pub fn of_uuid(&self, uuid: &uuid::Uuid) -> Partition {
        let imported = self
            .uuids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(uuid)
            .copied();
        imported.map_or_else(|| partition_of_uuid(uuid), Partition)
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|e| e.into_inner()).len()
            + self.uuids.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{mint_id, mint_uuid};

    #[test]
    fn an_imported_key_lives_where_the_directory_says_and_a_minted_one_where_its_bits_say() {
        let homes = Homes::default();
        let minted_id = mint_id(7, Partition(3));
        let minted_uuid = mint_uuid(Partition(5));
        let imported = uuid::Uuid::parse_str("0a8f3c51-3d5e-4f0a-9c61-2b7e8d9f0a11").unwrap();
        homes.learn(HomeKey::Id(2_300_101), 17);
        homes.learn(HomeKey::Uuid(imported), 17);
        assert_eq!(homes.of_id(2_300_101), Partition(17));
        assert_eq!(homes.of_uuid(&imported), Partition(17));
        assert_eq!(homes.of_id(minted_id), Partition(3));
        assert_eq!(homes.of_uuid(&minted_uuid), Partition(5));
        assert_eq!(homes.len(), 2);
        homes.learn(HomeKey::Id(2_300_101), 18);
        assert_eq!(
            homes.of_id(2_300_101),
            Partition(18),
            "the later entry wins"
        );
        assert_eq!(homes.len(), 2);
    }
}
