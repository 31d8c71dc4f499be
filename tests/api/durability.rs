//! What "acknowledged" means on the embedded store: the reply waits for an `fdatasync` of sled's log, not
//! only for sled's `sync_file_range` (which persists neither the file's size nor the disk's write cache).
//! Traced with the real `strace`, on the real binary.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use crate::helpers::Process;

/// Successful `fdatasync` calls on sled's log file (`<data dir>/db/db`) in an `strace -y` output.
fn log_syncs(trace: &Path) -> usize {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("fdatasync(") && l.contains("/db/db>") && l.trim_end().ends_with("= 0")
        })
        .count()
}

#[test]
fn every_acknowledged_write_waits_for_an_fdatasync_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (data, trace) = (dir.path().join("data"), dir.path().join("strace.txt"));
    let trace_arg = trace.to_str().unwrap();
    let app = Process::start_under(
        &[
            "strace",
            "-f",
            "-y",
            "-e",
            "trace=fdatasync",
            "-o",
            trace_arg,
        ],
        &data,
        &HashMap::new(),
    )
    .expect("digit-user starts under strace (the test command installs strace)");
    let client = reqwest::blocking::Client::new();
    let before = log_syncs(&trace);
    let writes = 10;
    for i in 0..writes {
        let user = json!({"user": {
            "userName": format!("DURABLE{i}"), "name": "Durable", "mobileNumber": "9876500000",
            "password": "Durable@123", "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true,
            "roles": [{"code": "EMPLOYEE"}]
        }});
        let resp = client
            .post(format!("{}/user/users/_createnovalidate", app.base))
            .json(&user)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    // One writer at a time: no two acknowledgements can share a sync, so each needed its own.
    let synced = log_syncs(&trace) - before;
    assert!(
        synced >= writes,
        "{writes} acknowledged writes, {synced} fdatasync calls on the store's log"
    );
    drop(app);
}
