//! Home partitions and the minting of user ids that carry them.
//!
//! The key space is cut into a fixed number of partitions (ARCHITECTURE.md, "Sharding"). A user's home
//! partition is a stable hash of (state tenant, userName); it never changes when pods are added, only the
//! partition → pod map does. Ids minted here embed the partition so that a request naming a user by `id` or
//! `uuid` can be routed to the owning pod without a directory.

use sha2::{Digest, Sha256};

/// The partition count the service ships with; partitions fit in 16 bits.
pub const DEFAULT_PARTITIONS: u16 = 256;

/// A partition number, `0 .. partitions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition(pub u16);

/// Partition of a key made of (state tenant, name): SHA-256 so it is stable across builds and platforms.
pub fn home_partition(state_tenant: &str, name: &str, partitions: u16) -> Partition {
    let mut hasher = Sha256::new();
    hasher.update((state_tenant.len() as u64).to_be_bytes());
    hasher.update(state_tenant.as_bytes());
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    Partition((n % u64::from(partitions.max(1))) as u16)
}

/// Mints the numeric `id` of a user: `sequence << 16 | partition`.
///
/// The low 16 bits are the home partition, so `id & 0xFFFF` routes. The sequence comes from the store's
/// monotonic id generator; ids therefore still grow with creation order (search results are in id order)
/// and stay below 2^53 for 2^37 users, so JavaScript clients read them exactly.
pub fn mint_id(sequence: u64, partition: Partition) -> i64 {
    ((sequence << 16) | u64::from(partition.0)) as i64
}

/// The partition embedded in an id minted by [`mint_id`].
pub fn partition_of_id(id: i64) -> Partition {
    Partition((id as u64 & 0xFFFF) as u16)
}

/// Mints a user `uuid`: a random version-4 UUID whose first two bytes are the home partition.
///
/// 106 random bits remain, far more than needed for uniqueness; the version and variant bits stay valid so
/// clients that check the UUID format accept it.
pub fn mint_uuid(partition: Partition) -> uuid::Uuid {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    bytes[..2].copy_from_slice(&partition.0.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The partition embedded in a uuid minted by [`mint_uuid`].
pub fn partition_of_uuid(uuid: &uuid::Uuid) -> Partition {
    let b = uuid.as_bytes();
    Partition(u16::from_be_bytes([b[0], b[1]]))
}

/// Which pod — StatefulSet ordinal — owns each partition, at a version. Scaling changes the map, never the
/// hash: a new map with a higher version, and the partitions whose owner changed move.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionMap {
    version: u64,
    replicas: u16,
    /// `owners[p]` is the ordinal owning partition `p`.
    owners: Vec<u16>,
}

/// A partition that changes owner between two maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// The partition.
    pub partition: Partition,
    /// Its owner in the old map.
    pub from: u16,
    /// Its owner in the new map.
    pub to: u16,
}

/// Why a map cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// No partitions or no pods.
    #[error("a partition map needs at least one partition and one replica")]
    Empty,
    /// More pods than partitions would leave pods without work.
    #[error("{replicas} replicas for {partitions} partitions: at most one pod per partition")]
    TooManyReplicas {
        /// Pods asked for.
        replicas: u16,
        /// Partitions there are.
        partitions: u16,
    },
    /// An explicit map that does not name an owner for every partition.
    #[error("the map names {given} owners for {partitions} partitions")]
    WrongLength {
        /// Owners given.
        given: usize,
        /// Partitions there are.
        partitions: u16,
    },
    /// An explicit map naming a pod that does not exist.
    #[error(
        "partition {partition} is given to pod {owner}, but there are {replicas} replicas (0 .. {replicas})"
    )]
    NoSuchPod {
        /// The partition.
        partition: u16,
        /// The ordinal named.
        owner: u16,
        /// Pods there are.
        replicas: u16,
    },
}

impl PartitionMap {
    /// The default map: `replicas` contiguous ranges of partitions whose sizes differ by at most one.
    pub fn even(partitions: u16, replicas: u16, version: u64) -> Result<Self, MapError> {
        if partitions == 0 || replicas == 0 {
            return Err(MapError::Empty);
        }
        if replicas > partitions {
            return Err(MapError::TooManyReplicas {
                replicas,
                partitions,
            });
        }
        let owners = (0..u32::from(partitions))
            .map(|p| (p * u32::from(replicas) / u32::from(partitions)) as u16)
            .collect();
        Ok(Self {
            version,
            replicas,
            owners,
        })
    }

    /// A map given partition by partition (`owners[p]` owns `p`), checked against the pod count.
    pub fn explicit(
        partitions: u16,
        replicas: u16,
        version: u64,
        owners: Vec<u16>,
    ) -> Result<Self, MapError> {
        if partitions == 0 || replicas == 0 {
            return Err(MapError::Empty);
        }
        if owners.len() != usize::from(partitions) {
            return Err(MapError::WrongLength {
                given: owners.len(),
                partitions,
            });
        }
        if let Some((p, &owner)) = owners.iter().enumerate().find(|(_, o)| **o >= replicas) {
            return Err(MapError::NoSuchPod {
                partition: p as u16,
                owner,
                replicas,
            });
        }
        Ok(Self {
            version,
            replicas,
            owners,
        })
    }

    /// The same map after checking it against `partitions` (a map read from a file or a peer).
    pub fn checked(self, partitions: u16) -> Result<Self, MapError> {
        Self::explicit(partitions, self.replicas, self.version, self.owners)
    }

    /// Partitions in the map.
    pub fn partitions(&self) -> u16 {
        self.owners.len() as u16
    }

    /// The map's version; a newer map has a higher one.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Pods in the map.
    pub fn replicas(&self) -> u16 {
        self.replicas
    }

    /// The ordinal owning `partition` (partitions come from [`home_partition`] with the map's count; one
    /// beyond it wraps around rather than failing a request).
    pub fn owner(&self, partition: Partition) -> u16 {
        self.owners[usize::from(partition.0) % self.owners.len()]
    }

    /// The partitions `ordinal` owns, in order.
    pub fn owned_by(&self, ordinal: u16) -> impl Iterator<Item = Partition> + '_ {
        self.owners
            .iter()
            .enumerate()
            .filter(move |(_, o)| **o == ordinal)
            .map(|(p, _)| Partition(p as u16))
    }

    /// The partitions that change owner from this map to `next` (same partition count), in partition order.
    pub fn moves_to(&self, next: &PartitionMap) -> Vec<Move> {
        self.owners
            .iter()
            .zip(&next.owners)
            .enumerate()
            .filter(|(_, (from, to))| from != to)
            .map(|(p, (&from, &to))| Move {
                partition: Partition(p as u16),
                from,
                to,
            })
            .collect()
    }
}

/// The ordinal of a StatefulSet pod from its hostname `<name>-<ordinal>`; `None` for any other hostname.
pub fn ordinal_from_hostname(hostname: &str, name: &str) -> Option<u16> {
    let host = hostname.split('.').next()?;
    let ordinal = host.strip_prefix(name)?.strip_prefix('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ordinal.parse().ok()
}

/// A peer's internal address from a template naming `{name}` and `{ordinal}`, e.g.
/// `{name}-{ordinal}.{name}-headless:8081` in Kubernetes or `127.0.0.1:1808{ordinal}` on one machine.
pub fn peer_address(template: &str, name: &str, ordinal: u16) -> String {
    template
        .replace("{name}", name)
        .replace("{ordinal}", &ordinal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_partition_is_stable_and_in_range() {
        let p = home_partition("pb", "9876543210", 256);
        assert_eq!(p, home_partition("pb", "9876543210", 256));
        assert!(p.0 < 256);
        // the tenant is part of the key
        let spread: std::collections::HashSet<_> = (0..64)
            .map(|i| home_partition("pb", &format!("user{i}"), 256))
            .collect();
        assert!(
            spread.len() > 40,
            "64 names landed in only {} partitions",
            spread.len()
        );
    }

    #[test]
    fn ids_carry_their_partition_and_grow_with_the_sequence() {
        let p = Partition(201);
        let a = mint_id(7, p);
        let b = mint_id(8, Partition(3));
        assert_eq!(partition_of_id(a), p);
        assert_eq!(partition_of_id(b), Partition(3));
        assert!(b > a);
        assert!(mint_id((1 << 37) - 1, Partition(65535)) < 1 << 53);
    }

    #[test]
    fn uuids_carry_their_partition_and_stay_v4() {
        let u = mint_uuid(Partition(0xBEEF));
        assert_eq!(partition_of_uuid(&u), Partition(0xBEEF));
        assert_eq!(u.get_version_num(), 4);
        assert_ne!(mint_uuid(Partition(1)), mint_uuid(Partition(1)));
    }

    #[test]
    fn even_maps_cut_contiguous_ranges_of_near_equal_size() {
        let map = PartitionMap::even(256, 3, 1).unwrap();
        let sizes: Vec<usize> = (0..3).map(|o| map.owned_by(o).count()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 256);
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        // contiguous: owners never decrease along the partitions
        let owners: Vec<u16> = (0..256).map(|p| map.owner(Partition(p))).collect();
        assert!(owners.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((owners[0], owners[255]), (0, 2));
        // one replica owns everything
        let single = PartitionMap::even(256, 1, 1).unwrap();
        assert_eq!(single.owned_by(0).count(), 256);
        assert_eq!(single.moves_to(&single), []);
    }

    #[test]
    fn moves_are_exactly_the_partitions_whose_owner_changes() {
        let (three, four) = (
            PartitionMap::even(256, 3, 1).unwrap(),
            PartitionMap::even(256, 4, 2).unwrap(),
        );
        let moves = three.moves_to(&four);
        for p in 0..256 {
            let p = Partition(p);
            let moved = moves.iter().find(|m| m.partition == p);
            match moved {
                Some(m) => assert_eq!((m.from, m.to), (three.owner(p), four.owner(p))),
                None => assert_eq!(three.owner(p), four.owner(p)),
            }
        }
        assert!(
            moves.iter().any(|m| m.to == 3),
            "the new pod receives partitions"
        );
        // and back down to two: pods 2 and 3 give everything away
        let two = PartitionMap::even(256, 2, 3).unwrap();
        assert_eq!(two.owned_by(2).count() + two.owned_by(3).count(), 0);
        assert!(four.moves_to(&two).iter().filter(|m| m.from >= 2).count() == 128);
    }

    #[test]
    fn impossible_maps_are_refused_with_the_reason() {
        assert_eq!(PartitionMap::even(256, 0, 1), Err(MapError::Empty));
        assert_eq!(
            PartitionMap::even(4, 5, 1),
            Err(MapError::TooManyReplicas {
                replicas: 5,
                partitions: 4
            })
        );
        assert_eq!(
            PartitionMap::explicit(4, 2, 1, vec![0, 1, 1]),
            Err(MapError::WrongLength {
                given: 3,
                partitions: 4
            })
        );
        assert_eq!(
            PartitionMap::explicit(4, 2, 1, vec![0, 1, 2, 1]),
            Err(MapError::NoSuchPod {
                partition: 2,
                owner: 2,
                replicas: 2
            })
        );
        let map = PartitionMap::explicit(4, 2, 7, vec![1, 0, 0, 1]).unwrap();
        assert_eq!(
            (map.version(), map.replicas(), map.owner(Partition(3))),
            (7, 2, 1)
        );
    }

    #[test]
    fn ordinals_come_from_statefulset_hostnames_only() {
        assert_eq!(ordinal_from_hostname("digit-user-2", "digit-user"), Some(2));
        assert_eq!(
            ordinal_from_hostname("digit-user-10.digit-user-headless.egov.svc", "digit-user"),
            Some(10)
        );
        for other in [
            "digit-user",
            "digit-user-",
            "digit-user-x1",
            "other-1",
            "digit-user-1-2",
            "digit-users-1",
        ] {
            assert_eq!(ordinal_from_hostname(other, "digit-user"), None, "{other}");
        }
        assert_eq!(
            peer_address("{name}-{ordinal}.{name}-headless:8081", "digit-user", 2),
            "digit-user-2.digit-user-headless:8081"
        );
        assert_eq!(
            peer_address("127.0.0.1:1808{ordinal}", "x", 1),
            "127.0.0.1:18081"
        );
    }
}
