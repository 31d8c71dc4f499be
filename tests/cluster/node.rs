//! A local cluster: `digit-user serve` processes on loopback sharing one set of secrets, each told its
//! ordinal and every peer's internal address, as a StatefulSet's pods would be.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::broker::Broker;
use crate::journal_env::journaled_env;

pub use crate::helpers::free_port;

/// The group with test timings: a silent pod is dropped after 6 s.
const GROUP: &[(&str, &str)] = &[
    ("DIGIT_USER__CLUSTER__SESSION_TIMEOUT_MS", "6000"),
    ("DIGIT_USER__CLUSTER__DRAIN_MS", "1000"),
    ("DIGIT_USER__CLUSTER__HANDOVER_MS", "8000"),
];

/// Partitions of the test deployment (`journaled_env` sets them).
pub const PARTITIONS: u16 = 16;

/// One pod.
pub struct Node {
    child: Option<Child>,
    /// `http://127.0.0.1:<public port>`
    pub base: String,
    /// `http://127.0.0.1:<internal port>`
    pub internal: String,
    data_dir: PathBuf,
    public_port: u16,
    internal_port: u16,
}

/// Pods sharing secrets, a peer list and a journal on one broker.
pub struct LocalCluster {
    _root: tempfile::TempDir,
    /// The broker holding the journal (stopped with the cluster).
    _broker: Broker,
    /// The pods, by ordinal.
    pub nodes: Vec<Node>,
    peers: Vec<String>,
    secrets: Vec<(&'static str, String)>,
    /// Settings every pod of this cluster gets besides the common ones.
    extra: Vec<(String, String)>,
}

impl LocalCluster {
    /// `pods` pods in Kafka's consumer group, and room for `spare` more (started by
    /// [`start_node`](Self::start_node): a scale-up). Ports are picked free and released before the pods
    /// bind them, so another test can take one meanwhile: then the whole cluster starts again on other
    /// ports.
    pub fn start(pods: u16, spare: u16) -> Self {
        Self::start_with(pods, spare, &[])
    }

    /// [`start`](Self::start) with settings every pod gets besides the common ones.
    pub fn start_with(pods: u16, spare: u16, extra: &[(&str, &str)]) -> Self {
        for _ in 0..3 {
            if let Some(cluster) = Self::try_start(pods, spare, extra) {
                return cluster;
            }
        }
        panic!("the cluster did not start in three attempts");
    }

    fn try_start(pods: u16, spare: u16, extra: &[(&str, &str)]) -> Option<Self> {
        let root = tempfile::tempdir().unwrap();
        let broker = Broker::start();
        // the keys from outside, the journal on the broker
        let secrets = journaled_env(&broker.address()).into_iter().collect();
        let total = pods + spare;
        let ports: Vec<(u16, u16)> = (0..total).map(|_| (free_port(), free_port())).collect();
        let peers: Vec<String> = ports
            .iter()
            .map(|(_, i)| format!("127.0.0.1:{i}"))
            .collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(o, (public_port, internal_port))| Node {
                child: None,
                base: format!("http://127.0.0.1:{public_port}"),
                internal: format!("http://127.0.0.1:{internal_port}"),
                data_dir: root.path().join(format!("pod-{o}")),
                public_port: *public_port,
                internal_port: *internal_port,
            })
            .collect();
        let mut cluster = Self {
            _root: root,
            _broker: broker,
            nodes,
            peers,
            secrets,
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        for o in 0..pods {
            if !cluster.try_start_node(o, &[]) {
                return None;
            }
        }
        Some(cluster)
    }

    /// The name of this cluster's directory: what its pods' log lines are marked with.
    fn label(&self) -> String {
        self._root
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The settings every pod and the admin command share, as environment variables.
    pub fn env(&self) -> Vec<(String, String)> {
        let peers = self
            .peers
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut env: Vec<(String, String)> = self
            .secrets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        env.extend(
            GROUP
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env.extend([
            ("DIGIT_USER__CLUSTER__PEERS".into(), format!("[{peers}]")),
            (
                "DIGIT_USER__CLUSTER__FORWARD_TIMEOUT_MS".into(),
                "1500".into(),
            ),
            ("DIGIT_USER__HASHER__MEMORY_KIB".into(), "256".into()),
            ("DIGIT_USER__HASHER__ITERATIONS".into(), "1".into()),
            // warnings, and how each pod started and why it stopped (a pod that exits says so)
            (
                "DIGIT_USER__LOG__LEVEL".into(),
                "warn,digit_user::startup=info".into(),
            ),
            // a register code and a login code for one number within a test
            ("DIGIT_USER__OTP__RESEND_COOLDOWN_SECS".into(), "0".into()),
            // the journal is on Kafka, the codes the tests read go to each pod's file
            ("DIGIT_USER__NOTIFY__SINK".into(), "file".into()),
        ]);
        env.extend(self.extra.iter().cloned());
        env
    }

    /// (Re)starts pod `ordinal` on its data dir and ports, and waits until it is ready.
    pub fn start_node(&mut self, ordinal: u16) {
        self.start_node_with(ordinal, &[]);
    }

    /// [`start_node`](Self::start_node) with settings of its own for this pod (`extra` overrides).
    pub fn start_node_with(&mut self, ordinal: u16, extra: &[(&str, &str)]) {
        assert!(
            self.try_start_node(ordinal, extra),
            "pod {ordinal} exited at start"
        );
    }

    fn try_start_node(&mut self, ordinal: u16, extra: &[(&str, &str)]) -> bool {
        let mut env = self.env();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env.push(("DIGIT_USER__CLUSTER__ORDINAL".into(), ordinal.to_string()));
        let label = format!("{} pod {ordinal}", self.label());
        let node = &mut self.nodes[usize::from(ordinal)];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_digit-user"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", node.public_port))
            .arg("--internal-listen")
            .arg(format!("127.0.0.1:{}", node.internal_port))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn digit-user");
        relay_lines(child.stderr.take().expect("a piped stderr"), label);
        node.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                eprintln!("pod {ordinal} exited at start: {status}");
                node.child = None;
                return false;
            }
            if get(&format!("{}/health/ready", node.base)) == 200 {
                // the answer was its own, not another process's on a port it could not bind
                std::thread::sleep(Duration::from_millis(100));
                if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                    eprintln!("pod {ordinal} exited at start: {status}");
                    node.child = None;
                    return false;
                }
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pod {ordinal} not ready within 30 s");
    }

    /// What pod `ordinal`'s process is, for a failure message: its pid and whether it still runs.
    pub fn process_of(&self, ordinal: u16) -> String {
        let Some(child) = &self.nodes[usize::from(ordinal)].child else {
            return "no process".into();
        };
        let pid = child.id();
        // the state is the field after the command's parenthesis: Z for a child that exited unreaped; the
        // last field is then its wait status (the signal in the low 7 bits, the exit code above)
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return format!("pid {pid}, gone");
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let status: i32 = fields.last().and_then(|f| f.parse().ok()).unwrap_or(0);
        match fields.first() {
            Some(&"Z") => format!(
                "pid {pid}, exited: signal {}, exit code {}",
                status & 0x7f,
                (status >> 8) & 0xff
            ),
            Some(state) => format!("pid {pid}, running ({state})"),
            None => format!("pid {pid}"),
        }
    }

    /// Kills pod `ordinal` at once (SIGKILL: a crashed node).
    pub fn kill(&mut self, ordinal: u16) {
        let node = &mut self.nodes[usize::from(ordinal)];
        if let Some(mut child) = node.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Sends `signal` to pod `ordinal` (SIGSTOP / SIGCONT: a pod paused, cut off, and back).
    pub fn signal(&self, ordinal: u16, signal: nix::sys::signal::Signal) {
        let node = &self.nodes[usize::from(ordinal)];
        let child = node.child.as_ref().expect("a running pod");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    }

    /// Stops pod `ordinal` with SIGTERM and asserts a clean exit.
    pub fn stop(&mut self, ordinal: u16) {
        let node = &mut self.nodes[usize::from(ordinal)];
        if let Some(mut child) = node.child.take() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            assert!(child.wait().unwrap().success());
        }
    }

    /// Runs `digit-user admin <args>` with the cluster's settings; (success, stdout, stderr).
    pub fn admin(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_digit-user"));
        cmd.arg("admin").args(args);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// How many SMS went to `mobile`, from every pod together.
    pub fn sms_count_to(&self, mobile: &str) -> usize {
        self.nodes
            .iter()
            .flat_map(|n| n.notifications())
            .filter(|n| n["channel"] == "sms" && n["payload"]["mobileNumber"] == mobile)
            .count()
    }

    /// The code of the latest SMS to `mobile`, whichever pod sent it.
    pub fn last_code_to(&self, mobile: &str) -> Option<String> {
        self.nodes
            .iter()
            .flat_map(|n| n.notifications())
            .filter(|n| n["channel"] == "sms" && n["payload"]["mobileNumber"] == mobile)
            .max_by_key(|n| n["createdMs"].as_i64().unwrap_or(0))
            .map(|n| {
                n["payload"]["message"]
                    .as_str()
                    .unwrap()
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|run| run.len() == 6)
                    .expect("a 6-digit code")
                    .to_owned()
            })
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for o in 0..self.nodes.len() {
            self.kill(o as u16);
        }
    }
}

/// Copies a pod's log lines to the test's output, each marked with `label` (the cluster's directory and the
/// pod's ordinal: nine clusters log side by side). Shown with the failing test's output.
fn relay_lines(from: std::process::ChildStderr, label: String) {
    use std::io::BufRead;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            eprintln!("[{label}] {line}");
        }
    });
}

impl Node {
    fn notifications(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data_dir.join("notifications.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Data dir (what is on this pod's volume).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// GET status (0 when nothing answers).
pub fn get(url: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// POSTs JSON; (status, body).
pub fn post(url: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .json(body)
        .timeout(Duration::from_secs(10))
        .send()
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// POSTs a form to `/user/oauth/token` with the web UI's client; (status, body).
pub fn token(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base}/user/oauth/token"))
        .basic_auth("egov-user-client", Some(""))
        .form(form)
        .timeout(Duration::from_secs(10))
        .send()
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// A password login of an employee of pb.amritsar with the web UI's client; (status, body).
pub fn employee_login(base: &str, user: &str, password: &str) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
            ("scope", "read"),
        ],
    )
}

/// A valid employee of pb.amritsar.
pub fn employee(user_name: &str, mobile: &str) -> Value {
    json!({
        "userName": user_name, "name": "Asha Devi", "mobileNumber": mobile, "password": "Asha@12345",
        "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true, "roles": [{"code": "EMPLOYEE"}],
    })
}
