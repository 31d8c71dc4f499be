//! Loopback ports for the tests that start the real binary (shared by the test crates with `#[path]`).

/// A free loopback port (bound then released: another process may take it before the caller binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
