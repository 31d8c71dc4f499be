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

/// The sequence a store's id generator must be raised above so that every id it mints from then on is above
/// `id` (an id of another registry, kept by an import): `id >> 16`.
pub fn sequence_floor(id: i64) -> u64 {
    (id.max(0) as u64) >> 16
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
