//! The real binary as a child process, and the data dir as another program sees it.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The real binary, run on loopback with a data dir.
pub struct Process {
    child: Child,
    /// Everything it logs on standard error, read as it comes: a pipe nobody reads fills up and stops
    /// the process at its next log line.
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// `http://127.0.0.1:<internal port>`
    pub internal: String,
}

#[path = "../../common/net.rs"]
mod net;
pub use net::free_port;

impl Process {
    /// Starts `digit-user serve` on `data_dir` with `env` added and waits until it is ready.
    pub fn start(data_dir: &Path, env: &HashMap<&str, String>) -> Result<Self, String> {
        Self::start_under(&[], data_dir, env)
    }

    /// [`start`](Self::start) with the binary run by `wrapper` (e.g. `strace -f -o FILE`): the child is then
    /// the wrapper, and [`traced`](Self::traced) finds the binary under it.
    pub fn start_under(
        wrapper: &[&str],
        data_dir: &Path,
        env: &HashMap<&str, String>,
    ) -> Result<Self, String> {
        // a port picked free may be taken by another test before the binary binds it (the binary binds
        // before it touches the data dir): then again on other ports
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::try_start(wrapper, data_dir, env) {
                Err(e) if attempt < 4 && e.contains("Address already in use") => continue,
                other => return other,
            }
        }
    }

    fn try_start(
        wrapper: &[&str],
        data_dir: &Path,
        env: &HashMap<&str, String>,
    ) -> Result<Self, String> {
        let (port, internal) = (free_port(), free_port());
        let binary = env!("CARGO_BIN_EXE_digit-user");
        let mut cmd = match wrapper {
            [] => Command::new(binary),
            [program, args @ ..] => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary);
                cmd
            }
        };
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--internal-listen")
            .arg(format!("127.0.0.1:{internal}"))
            .env("DIGIT_USER__HASHER__MEMORY_KIB", "256")
            .env("DIGIT_USER__HASHER__ITERATIONS", "1")
            .env("DIGIT_USER__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(String::new()));
        let reader = {
            let (mut stderr, log) = (child.stderr.take().expect("piped"), log.clone());
            std::thread::spawn(move || {
                use std::io::Read;
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                    log.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            })
        };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let _ = reader.join();
                let err = log.lock().unwrap().clone();
                return Err(format!("exited with {status}: {err}"));
            }
            // an answer, not a connection: the listeners are bound before the data dir is checked, so a
            // start-up that is about to fail accepts connections for a moment
            let answered = reqwest::blocking::Client::new()
                .get(format!("{base}/health/live"))
                .timeout(Duration::from_millis(500))
                .send()
                .is_ok();
            // another process on the port answers while this one fails to bind it: still running?
            if answered {
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(Some(status)) = child.try_wait() {
                    let _ = reader.join();
                    let err = log.lock().unwrap().clone();
                    return Err(format!("exited with {status}: {err}"));
                }
            }
            if answered {
                let internal = format!("http://127.0.0.1:{internal}");
                return Ok(Self {
                    child,
                    log,
                    reader: Some(reader),
                    base,
                    internal,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        Err("not ready within 20 s".into())
    }

    /// Waits until `/health/ready` answers 200, at most `within`; whether it did.
    #[allow(dead_code)] // used by the test binaries that start journaled pods
    pub fn wait_ready(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let ready = reqwest::blocking::Client::new()
                .get(format!("{}/health/ready", self.base))
                .timeout(Duration::from_millis(500))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The pids of the child's own children (the binary under a wrapper).
    pub fn traced(&self) -> Vec<i32> {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Sends `signal` and waits for the exit status.
    pub fn stop(self, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
        self.stop_with_log(signal).0
    }

    /// Sends `signal`, waits, and returns the exit status and everything logged on standard error.
    pub fn stop_with_log(
        mut self,
        signal: nix::sys::signal::Signal,
    ) -> (std::process::ExitStatus, String) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // a wrapper's death would leave the binary running: kill it first
        for pid in self.traced() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[path = "../../common/piped.rs"]
mod piped;
pub use piped::run_piped;

/// Opens a data dir's sled database directly, as an earlier build (or an operator's tool) would.
/// A store dropped a moment ago may still hold sled's file lock while its flusher thread winds
/// down, so this waits for the lock for a few seconds instead of failing on the first try.
pub fn raw_sled(data_dir: &Path) -> sled::Db {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        match sled::open(data_dir.join("db")) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && Instant::now() < give_up =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened.expect("the data dir's sled database opens"),
        }
    }
}
