//! A child process fed on its standard input (shared by the test crates with `#[path]`).

use std::process::{Command, Output, Stdio};

/// Runs `cmd` with `input` on its standard input (a password, a passphrase, a JSON list) and collects its
/// output.
pub fn run_piped(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
