//! The sled page cache's size when `storage.cache_mb` is 0: a share of the container's memory limit, read
//! from its cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`). A lookup whose index pages are cached costs
//! no disk read, so the cache is what keeps searches and logins fast as a state's users grow; the rest of the
//! limit is left to live OTP sessions, the partitions' maps, sled's own bookkeeping beyond its cache and the
//! allocator.

use std::path::Path;

/// The share of the memory limit given to the cache.
pub const LIMIT_SHARE: (u64, u64) = (2, 5);
/// The cache when no limit is found (a process outside a memory-limited cgroup): sled's own default.
pub const UNLIMITED_CACHE: u64 = 128 << 20;
/// The smallest and largest cache sized from a limit.
pub const CACHE_BOUNDS: (u64, u64) = (64 << 20, 8 << 30);

/// The cache for a memory limit (bytes; `None`: unlimited).
pub fn cache_for(limit: Option<u64>) -> u64 {
    match limit {
        None => UNLIMITED_CACHE,
        Some(limit) => {
            (limit / LIMIT_SHARE.1 * LIMIT_SHARE.0).clamp(CACHE_BOUNDS.0, CACHE_BOUNDS.1)
        }
    }
}

/// The memory limit of the process whose `/proc/self/cgroup` is `groups`, from the cgroup file system
/// mounted at `root` (`/sys/fs/cgroup`): the lowest limit of its own group's file (a host, or a cgroup without
/// its own namespace) and the mount's root file (a container's namespaced mount), v2 or v1.
pub fn limit_of(root: &Path, groups: &str) -> Option<u64> {
    let mut files = Vec::new();
    for line in groups.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            files.push(root.join(path).join("memory.max"));
        } else if controllers.split(',').any(|c| c == "memory") {
            files.push(root.join("memory").join(path).join("memory.limit_in_bytes"));
        }
    }
    files.push(root.join("memory.max"));
    files.push(root.join("memory").join("memory.limit_in_bytes"));
    files.iter().filter_map(|file| read_limit(file)).min()
}

/// A limit file's value; `None` when absent, unreadable or unlimited ("max" in v2, a page-rounded
/// `i64::MAX` in v1).
fn read_limit(file: &Path) -> Option<u64> {
    let bytes: u64 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes)
}

/// This process's memory limit.
pub fn limit() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    limit_of(Path::new("/sys/fs/cgroup"), &groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_of_the_limit_within_bounds() {
        // the Kubernetes manifest's limit, 1 GiB: about 410 MiB
        assert_eq!(cache_for(Some(1 << 30)), (1u64 << 30) / 5 * 2);
        assert_eq!(
            cache_for(Some(100 << 20)),
            64 << 20,
            "a small pod still caches"
        );
        assert_eq!(cache_for(Some(64 << 30)), 8 << 30, "a big machine caps it");
        assert_eq!(cache_for(None), 128 << 20);
    }

    #[test]
    fn reads_v2_and_v1_limits_of_the_own_group_and_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let v2 = "0::/kubepods/pod1\n";
        assert_eq!(limit_of(root, v2), None, "no cgroup files");
        std::fs::write(root.join("memory.max"), "max\n").unwrap();
        assert_eq!(limit_of(root, v2), None, "unlimited");
        std::fs::write(root.join("memory.max"), "1073741824\n").unwrap();
        assert_eq!(limit_of(root, v2), Some(1 << 30), "a container's own mount");
        std::fs::create_dir_all(root.join("kubepods/pod1")).unwrap();
        std::fs::write(root.join("kubepods/pod1/memory.max"), "536870912\n").unwrap();
        assert_eq!(
            limit_of(root, v2),
            Some(512 << 20),
            "the own group's, lower"
        );

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let v1 = "9:name=systemd:/\n4:cpu,memory:/job/7\n0::/\n";
        std::fs::create_dir_all(root.join("memory/job/7")).unwrap();
        let own = root.join("memory/job/7/memory.limit_in_bytes");
        std::fs::write(&own, "9223372036854771712\n").unwrap();
        assert_eq!(limit_of(root, v1), None);
        std::fs::write(&own, "268435456\n").unwrap();
        assert_eq!(limit_of(root, v1), Some(256 << 20));
    }
}
