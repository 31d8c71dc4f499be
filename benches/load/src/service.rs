//! digit-user as a child process for the load run: the release binary on loopback, a temp data dir, the file
//! sink, limits lifted that would refuse a load test (per-number and per-IP OTP caps), real argon2 cost.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::wire::{Answer, Client};

/// DIGIT's client header.
pub const BASIC: &str = "Basic ZWdvdi11c2VyLWNsaWVudDo=";

/// A running service.
pub struct Service {
    child: Child,
    dir: tempfile::TempDir,
    /// How it was started: started again the same way by [`Service::restart_wiped`].
    launch: Launch,
    /// `http://127.0.0.1:<public>`
    pub public: String,
    /// `http://127.0.0.1:<internal>`
    pub internal: String,
}

/// What a start needs besides the data dir.
#[derive(Clone)]
struct Launch {
    workers: usize,
    journal: Option<String>,
    /// Settings besides the load's own (they win).
    extra: Vec<(&'static str, String)>,
    public: u16,
    internal: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `GET <request>` to the loopback `port` answers 200 (the service is ready: with the journal on,
/// its partitions are restored).
fn answers_200(port: u16, request: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut answer = [0u8; 12];
    stream
        .write_all(format!("GET {request}").as_bytes())
        .is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && answer.ends_with(b"200")
}

/// The release binary next to this one, built first if needed (`cargo run --release --bin load` builds only
/// this package).
/// Starts digit-user as `launch` says on the data dir `dir`.
fn spawn(launch: &Launch, dir: &std::path::Path) -> Child {
    // `DIGIT_USER_LOAD_WRAP="heaptrack -o /tmp/ht"` (or `perf record -g -o ...`) runs the service under a
    // profiler; the numbers of such a run are the profiler's, not the service's.
    let wrap = std::env::var("DIGIT_USER_LOAD_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    if let Some(brokers) = &launch.journal {
        // the deployment's keys from outside, as a journaled pod needs; codes go to the file
        let key = |b: u8| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([b; 32])
        };
        command
            .env("DIGIT_USER_SEALING_KEYS", format!("1:{}", key(11)))
            .env("DIGIT_USER_BLIND_INDEX_KEY", key(12))
            .env("DIGIT_USER_TOKEN_KEY", key(13))
            .env("DIGIT_USER_OTP_PEPPER", key(14))
            .env("DIGIT_USER__KAFKA__BROKERS", brokers)
            .env("DIGIT_USER__NOTIFY__SINK", "file")
            .env("DIGIT_USER__CLUSTER__PARTITIONS", "16")
            // the group's only member: it names itself
            .env("DIGIT_USER__CLUSTER__ORDINAL", "0")
            .env("DIGIT_USER__JOURNAL__REPLICATION_FACTOR", "1")
            .env("DIGIT_USER__JOURNAL__MIN_INSYNC_REPLICAS", "1");
    }
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", launch.public))
        .arg("--internal-listen")
        .arg(format!("127.0.0.1:{}", launch.internal))
        .env("DIGIT_USER__LOG__LEVEL", "error")
        .env("DIGIT_USER__HTTP__WORKERS", launch.workers.to_string())
        .env("DIGIT_USER__OTP__RESEND_COOLDOWN_SECS", "0")
        .env("DIGIT_USER__OTP__MAX_SENDS_PER_HOUR", "1000000")
        .env("DIGIT_USER__OTP__MAX_SENDS_PER_DAY", "1000000")
        .env("DIGIT_USER__OTP__MAX_SENDS_PER_IP_PER_HOUR", "100000000")
        // the load walks ranges of numbers, as SMS pumping would
        .env("DIGIT_USER__OTP__MAX_SENDS_PER_PREFIX", "100000000")
        .env("DIGIT_USER__OTP__MAX_SENDS_PER_STATE", "100000000")
        .env("DIGIT_USER__OTP__MAX_TRACKED_IPS", "1000")
        .env("DIGIT_USER__NOTIFY__MAX_OUTBOX_DEPTH", "10000000")
        .env("DIGIT_USER__HASHER__QUEUE", "4096")
        .env("DIGIT_USER__LOCKOUT__MAX_INVALID_ATTEMPTS", "1000000")
        .env("DIGIT_USER__LOGIN__MAX_FAILURES_PER_ADDRESS", "100000000")
        .env("DIGIT_USER__LOGIN__MAX_FAILURES_PER_SUBNET", "100000000")
        .env("DIGIT_USER__OTP__TEST_NUMBERS", test_numbers())
        .envs(launch.extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start digit-user")
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let bin = exe.with_file_name("digit-user");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "digit-user"])
        .status()
        .expect("cargo");
    assert!(status.success(), "building digit-user failed");
    bin
}

/// CPU time (user + system) process `pid` has used so far, in milliseconds; `None` once it is gone.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name (which may hold spaces) start at its closing parenthesis
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5): 12th and 13th after the name
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the running system
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks * 1000.0 / per_sec)
}

impl Service {
    /// Starts the service — with the journal on `journal`'s brokers, if given — and waits until it is ready.
    pub fn start(workers: usize, journal: Option<&str>) -> Self {
        Self::start_with(workers, journal, Vec::new())
    }

    /// [`start`](Self::start) with `extra` settings (environment variables) on top of the load's own.
    pub fn start_with(
        workers: usize,
        journal: Option<&str>,
        extra: Vec<(&'static str, String)>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            workers,
            journal: journal.map(str::to_owned),
            extra,
            public: free_port(),
            internal: free_port(),
        };
        let child = spawn(&launch, dir.path());
        let service = Self {
            child,
            dir,
            public: format!("http://127.0.0.1:{}", launch.public),
            internal: format!("http://127.0.0.1:{}", launch.internal),
            launch,
        };
        service.wait_ready(Duration::from_secs(60));
        service
    }

    /// Kills the service (SIGKILL), deletes its data dir — a lost volume — and starts it again on the
    /// same ports and keys; how long it took to be ready again (with the journal: the restore).
    pub fn restart_wiped(&mut self) -> Duration {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::remove_dir_all(self.dir.path()).unwrap();
        std::fs::create_dir(self.dir.path()).unwrap();
        let started = Instant::now();
        self.child = spawn(&self.launch, self.dir.path());
        self.wait_ready(Duration::from_secs(3600));
        started.elapsed()
    }

    fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let ready = "/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        while !answers_200(self.launch.public, ready) {
            assert!(Instant::now() < deadline, "digit-user did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the child, bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The load tool's own HTTP client helpers (async), on [`Client`]s of its own making.
pub struct Api {
    /// Public base URL.
    pub public: String,
    /// Internal base URL.
    pub internal: String,
    public_client: Client,
    internal_client: Client,
}

impl Api {
    /// A client for `service`.
    pub fn new(service: &Service) -> Self {
        Self {
            public_client: Client::new(&service.public),
            internal_client: Client::new(&service.internal),
            public: service.public.clone(),
            internal: service.internal.clone(),
        }
    }

    fn client(&self, base: &str) -> &Client {
        if base == self.internal {
            &self.internal_client
        } else {
            assert_eq!(base, self.public, "a base URL of this service");
            &self.public_client
        }
    }

    /// POSTs JSON; the answer.
    pub async fn post(&self, base: &str, path: &str, body: &Value) -> Result<Answer, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        self.client(base)
            .send("POST", path, &[JSON], &body)
            .await
            .map_err(|e| e.to_string())
    }

    /// `POST /user/_details?access_token=` as the gateway sends it; the body's length on 200.
    pub async fn details(&self, token: &str) -> Result<usize, String> {
        let answer = self
            .public_client
            .send(
                "POST",
                &format!("/user/_details?access_token={token}"),
                &[],
                b"",
            )
            .await
            .map_err(|e| e.to_string())?;
        if answer.status == 200 {
            Ok(answer.body.len())
        } else {
            Err(format!("details: {}", answer.status))
        }
    }

    /// `GET /health/ready`: `Ok` on 200.
    pub async fn health(&self) -> Result<(), String> {
        let answer = self
            .public_client
            .send("GET", "/health/ready", &[], b"")
            .await
            .map_err(|e| e.to_string())?;
        match answer.status {
            200 => Ok(()),
            other => Err(format!("health: {other}")),
        }
    }

    /// A token request with form parameters.
    pub async fn token(&self, params: &[(&str, &str)]) -> Result<Answer, String> {
        let form = serde_urlencoded::to_string(params).map_err(|e| e.to_string())?;
        self.public_client
            .send(
                "POST",
                "/user/oauth/token",
                &[
                    ("Authorization", BASIC),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                form.as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// Logs employee `n` in.
    pub async fn login_employee(&self, n: usize) -> Result<Answer, String> {
        let name = employee_name(n);
        self.token(&[
            ("grant_type", "password"),
            ("username", &name),
            ("password", PASSWORD),
            ("tenantId", "pb.amritsar"),
            ("userType", "EMPLOYEE"),
        ])
        .await
    }

    /// A code for `mobile` in `pb` through egov-otp's internal `_create`.
    pub async fn create_code(&self, mobile: &str) -> Result<String, String> {
        let answer = self
            .post(
                &self.internal,
                "/otp/v1/_create",
                &json!({"otp": {"identity": mobile, "tenantId": "pb"}}),
            )
            .await?;
        if answer.status != 201 {
            return Err(format!("_create {}", answer.status));
        }
        answer.json()["otp"]["otp"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no code".to_owned())
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// The fixed code of the seeded citizens: they are configured as test numbers, so an OTP login can be
/// driven without reading SMS (the login path is the same; only the code check is the fixed-code one).
pub const TEST_CODE: &str = "246810";

fn test_numbers() -> String {
    let entries: Vec<String> = (0..64)
        .map(|n| {
            format!(
                "{{ tenant = \"pb\", mobile = \"{}\", code = \"{TEST_CODE}\", until = \"2099-12-31\" }}",
                citizen_mobile(n)
            )
        })
        .collect();
    format!("[{}]", entries.join(", "))
}

/// The seeded employees' password.
pub const PASSWORD: &str = "Abcdef1@";

/// The userName of seeded employee `n`.
pub fn employee_name(n: usize) -> String {
    format!("LOADEMP{n:05}")
}

/// The mobile number of seeded citizen `n`.
pub fn citizen_mobile(n: usize) -> String {
    format!("7{:09}", n)
}

/// Creates `employees` employees and `citizens` citizens; returns the employees' uuids.
pub async fn seed(api: &Api, employees: usize, citizens: usize) -> Vec<String> {
    let create = |user: Value| async move {
        let answer = api
            .post(
                &api.public,
                "/user/users/_createnovalidate",
                &json!({"user": user}),
            )
            .await
            .unwrap();
        let body = answer.json();
        assert_eq!(answer.status, 200, "{body}");
        body["user"][0]["uuid"].as_str().unwrap().to_owned()
    };
    let mut uuids = Vec::new();
    for n in 0..employees {
        uuids.push(
            create(json!({"userName": employee_name(n), "name": "Load Employee", "mobileNumber": "9876543210",
                          "password": PASSWORD, "type": "EMPLOYEE", "tenantId": "pb.amritsar", "active": true,
                          "roles": [{"code": "EMPLOYEE"}]}))
            .await,
        );
    }
    for n in 0..citizens {
        let mobile = citizen_mobile(n);
        create(json!({"userName": mobile, "name": "Load Citizen", "mobileNumber": mobile, "type": "CITIZEN",
                      "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}))
        .await;
    }
    uuids
}
