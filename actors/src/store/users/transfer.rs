//! Users of some partitions, counted (what a takeover must find as the previous owner left it).

use std::collections::BTreeSet;

use super::{UserStore, id_of_key};
use crate::store::StoreError;

impl UserStore {
    /// How many users live in one of `partitions` (by their ids' homes).
    pub fn count_in(&self, partitions: &BTreeSet<u16>) -> Result<usize, StoreError> {
        let mut n = 0;
        for key in self.users.iter().keys() {
            if partitions.contains(&self.homes.of_id(id_of_key(&key?)?).0) {
                n += 1;
            }
        }
        Ok(n)
    }
}
