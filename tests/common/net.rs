//! Loopback ports for the tests that start the real binary (shared by the test crates with `#[path]`).

use std::collections::HashSet;
use std::sync::Mutex;

/// Ports this test process handed out: a pod stopped and started again binds its ports anew, so no other
/// test of this process may be given them meanwhile.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free loopback port, never one this process handed out before (bound then released: another process
/// may still take it before the caller binds it).
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}
