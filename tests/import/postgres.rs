//! A throw-away PostgreSQL for the import tests: `initdb` into a temp dir and `pg_ctl` on a free loopback
//! port, no system service (scripts/test.sh installs Debian's package when it is missing). As root it runs
//! as the package's `postgres` user: PostgreSQL refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster, stopped (immediately) and deleted on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// Starts one with a superuser `digit` that needs no password on loopback.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let as_postgres =
            String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout).trim()
                == "0";
        if as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(dir.path()));
        }
        let pg = Self {
            dir,
            bin,
            port: crate::process::free_port(),
            as_postgres,
        };
        let data = pg.data();
        run(pg.tool("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "digit",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]));
        let options = format!(
            "-p {} -k {} -h 127.0.0.1 -F",
            pg.port,
            pg.dir.path().display()
        );
        run(pg
            .tool("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-w", "start", "-l"])
            .arg(pg.dir.path().join("log")));
        pg
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://digit@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` and runs `sql` in it; its URL.
    pub fn database(&self, name: &str, sql: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let url = self.url(name);
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        db.batch_execute(sql).unwrap();
        url
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// Where initdb and pg_ctl are: `DIGIT_USER_TEST_PG_BIN`, else the newest /usr/lib/postgresql/<v>/bin.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DIGIT_USER_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is installed by scripts/test.sh (Debian's postgresql package)")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// egov-user's tables for `schema` ("core" or "fork"): the shared DDL with the other variant's lines left
/// out.
pub fn egov_user_ddl(schema: &str) -> String {
    let other = if schema == "core" {
        "-- fork"
    } else {
        "-- core"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import/egov_user.sql");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_end().ends_with(other))
        .collect::<Vec<_>>()
        .join("\n")
}
