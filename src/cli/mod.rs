//! The command line: `serve` (default), `check-config`, and the `admin` commands — their arguments here,
//! their work in `admin.rs`, `backup.rs`, `cluster.rs`, `import.rs`, `messages.rs` and `journal.rs`.

pub mod admin;
pub mod audit;
pub mod backup;
pub mod cluster;
pub mod import;
pub mod internal;
pub mod journal;
pub mod keys;
pub mod messages;
pub mod sessions;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// digit-user: DIGIT's users, logins, tokens and OTPs in one service.
#[derive(Debug, Parser)]
#[command(name = "digit-user", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve` when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Validate the configuration (layers, catalogs) and print a summary; exit 2 when invalid.
    CheckConfig(ServeArgs),
    /// Administrative tasks on a stopped service's data dir.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the OpenAPI 3.1 description of every endpoint (what docs/openapi.json holds).
    Openapi,
}

/// Options shared by `serve` and `check-config`.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Configuration file layered over config/default.toml.
    #[arg(long = "config", env = "DIGIT_USER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory.
    #[arg(long, env = "DIGIT_USER__STORAGE__DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Public listener address.
    #[arg(long = "listen", env = "DIGIT_USER__HTTP__PUBLIC_ADDR", global = true)]
    pub listen: Option<String>,
    /// Internal listener address.
    #[arg(
        long = "internal-listen",
        env = "DIGIT_USER__HTTP__INTERNAL_ADDR",
        global = true
    )]
    pub internal_listen: Option<String>,
}

impl ServeArgs {
    /// The configuration layer these flags make.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            data_dir: self.data_dir.clone(),
            public_addr: self.listen.clone(),
            internal_addr: self.internal_listen.clone(),
        }
    }
}

/// `admin` commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user (the first SUPERUSER, or any employee) in the data dir. The password is read from
    /// standard input when it is not a terminal, else prompted for twice; it is never an argument.
    CreateUser(CreateUserArgs),
    /// End a user's lockout (and failed-login count) now, in the data dir of a stopped service. While the
    /// service runs, use `/user/users/_updatenovalidate` with `accountLocked: false` instead.
    Unlock(UnlockArgs),
    /// Show the notification outbox of a stopped service's data dir: depth, oldest age, last error. While
    /// the service runs: `curl http://<internal listener>/admin/outbox`.
    Outbox(OutboxArgs),
    /// Retired: Kafka's consumer group moves the partitions when pods join or leave. Says what to do.
    #[command(hide = true)]
    Rebalance(RetiredArgs),
    /// Who serves each partition, which pods follow it as warm standbys
    /// and how many journal records their copies are behind, and what every pod last announced. Asks the
    /// pod at --url (default: http.internal_addr), then every pod it knows at the address it announced.
    ClusterStatus(ClusterStatusArgs),
    /// Write a backup of the state to a file while the service runs (through its internal listener), or
    /// with --offline from a stopped service's data dir. The file is sealed with the deployment's keys and
    /// carries none: keep the secrets to restore it.
    Backup(BackupArgs),
    /// Restore a backup into an empty data dir, with the secrets of the deployment it came from (given as
    /// for serve: DIGIT_USER_* or *_FILE; never generated), or — for a backup taken --with-keys — with the
    /// keys it carries, opened by the passphrase and installed into the data dir.
    Restore(RestoreArgs),
    /// Move users in from egov-user's PostgreSQL with their ids and uuids, PII decrypted on the way into
    /// the sealed store (README "Moving from egov-user"): into the data dir of a stopped pod with the journal
    /// off. Resumable; a re-run imports the rows changed since. `import verify` compares the two.
    Import(Box<ImportArgs>),
    /// A user's audit trail, one JSON event a line, oldest first (asks the running service's internal
    /// listener, which routes to the pod that owns the user).
    Audit(AuditArgs),
    /// A user's live sessions (logins and the tokens refreshed from them: opened, last used, client address
    /// and user agent), one JSON session a line; `--end ID` ends one, `--end-all` every one (asks the running
    /// service's internal listener, which routes to the pod that owns the user).
    Sessions(SessionsArgs),
    /// Put a new sealing key, token signing key and OTP pepper in force on every pod — nobody logged out, no
    /// live code killed — and re-seal every value under the new sealing key, with progress; says which old
    /// keys may be dropped. `--add` first appends a fresh key to each list kept in the data dir or a
    /// writable *_FILE (README "Secrets").
    RotateKeys(RotateKeysArgs),
    /// The OTP message catalogs.
    #[command(subcommand)]
    Messages(MessagesCommand),
    /// The replicated journal on Kafka.
    #[command(subcommand)]
    Journal(JournalCommand),
}

/// `admin backup`
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (written as FILE.partial, checked, then renamed).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// The running service's internal listener, e.g. http://127.0.0.1:8081; default http.internal_addr.
    #[arg(long, value_name = "URL", conflicts_with = "offline")]
    pub url: Option<String>,
    /// Read the data dir of a stopped service instead of asking the running one.
    #[arg(long)]
    pub offline: bool,
    /// Put the deployment's secrets into the file, wrapped under a passphrase (read from standard input
    /// when piped, else typed twice; at least 12 characters).
    #[arg(long)]
    pub with_keys: bool,
    /// Configuration, data dir (for --offline) and secrets.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Configuration and the (empty) data dir to restore into.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin import`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ImportArgs {
    /// `verify`, or none: import.
    #[command(subcommand)]
    pub command: Option<ImportCommand>,
    /// egov-user's database and the keys of its PII.
    #[command(flatten)]
    pub source: ImportSource,
    /// Read, decrypt and map every row and report; write nothing (conflicts with users already stored
    /// are found by the real run only).
    #[arg(long)]
    pub dry_run: bool,
    /// Rows read and written at a time.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10000))]
    pub batch: i64,
    /// Read at most this many rows (whole batches), then stop: the next run resumes where this one did.
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

/// `admin import` commands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Compare every row of egov-user's tables with the user stored here: keys of every row, decrypted
    /// fields of a sample. Exit 1 while a row is missing, differs, or was skipped by the import.
    Verify(ImportVerifyArgs),
}

/// `admin import verify`
#[derive(Debug, Args)]
pub struct ImportVerifyArgs {
    /// egov-user's database and the keys of its PII.
    #[command(flatten)]
    pub source: ImportSource,
    /// Compare every Nth row field by field (1: every row).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub sample_every: u64,
}

/// Where an import reads from.
#[derive(Debug, Args)]
pub struct ImportSource {
    /// egov-user's database: postgresql://user:password@host:5432/database. Give it in the environment
    /// (DIGIT_USER_IMPORT_FROM), where `ps` does not show the password.
    #[arg(
        long,
        env = "DIGIT_USER_IMPORT_FROM",
        value_name = "URL",
        hide_env_values = true
    )]
    pub from_postgres: String,
    /// Only this tenant and its cities (e.g. `pb`); default every tenant.
    #[arg(long, default_value = "")]
    pub tenant: String,
    /// egov-enc-service's master settings when the PII is sealed: a JSON file {"password", "salt",
    /// "initialvector"} holding its master.password, master.salt and master.initialvector.
    #[arg(long, value_name = "FILE")]
    pub enc_master: Option<PathBuf>,
    /// egov-enc-service's key table as a JSON list of {"key_id", "secret_key", "initial_vector"} rows,
    /// when eg_enc_symmetric_keys is not in egov-user's database (it is read from there otherwise).
    #[arg(long, value_name = "FILE", requires = "enc_master")]
    pub enc_keys: Option<PathBuf>,
    /// A running deployment's internal listener (any of its pods), e.g.
    /// http://digit-user-0.digit-user:8081: write through it — each user stored by the pod serving its home,
    /// through the journal when it is on. Without it: into the data dir of a stopped pod, journal off.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Configuration, and the data dir to import into (with --url: where the import keeps its progress).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin journal` commands.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Create the journal's topics (journal.topic, .revocations_topic, .members_topic, .directory_topic) through the Kafka admin API,
    /// or check the existing ones: partition count, cleanup.policy=compact, replication factor and
    /// min.insync.replicas. A topic that differs is refused with what to do; nothing is ever altered.
    Check(JournalCheckArgs),
}

/// `admin journal check`
#[derive(Debug, Args)]
pub struct JournalCheckArgs {
    /// Configuration (kafka.brokers and .properties, the journal section, cluster.partitions).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin messages` commands.
#[derive(Debug, Subcommand)]
pub enum MessagesCommand {
    /// Merge a state's templates from egov-localization JSON (a `/localization/messages/v1/_search` answer,
    /// an `_upsert` body or a seed file) into `<dir>/<locale>.toml`: only the codes digit-user sends, checked
    /// as the service loads them; nothing is written when the result would not load.
    Import(MessagesImportArgs),
}

/// `admin messages import`
#[derive(Debug, Args)]
pub struct MessagesImportArgs {
    /// The egov-localization JSON file.
    pub file: PathBuf,
    /// Catalog directory; default otp.messages_dir, or config/messages when that is empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Only messages of these modules (e.g. egov-user, mgramseva-common); default every module.
    #[arg(long = "module")]
    pub modules: Vec<String>,
    /// Locale of messages that name none.
    #[arg(long)]
    pub locale: Option<String>,
    /// Configuration (otp.messages_dir, otp.locale, otp.sms_codes).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin cluster-status`
#[derive(Debug, Args)]
pub struct ClusterStatusArgs {
    /// A pod's internal listener, e.g. http://digit-user-0.digit-user-headless:8081; default
    /// http.internal_addr.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Configuration (http.internal_addr).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin audit`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The user's uuid.
    #[arg(long, value_name = "UUID")]
    pub user: String,
    /// Only these kinds, comma-separated (user_created, user_updated, password_changed, login_succeeded,
    /// login_failed, locked, unlocked, otp_sent, otp_validated, token_revoked, plain_access).
    #[arg(long)]
    pub kind: Option<String>,
    /// From this moment (epoch ms).
    #[arg(long)]
    pub from: Option<i64>,
    /// Before this moment (epoch ms).
    #[arg(long)]
    pub to: Option<i64>,
    /// At most this many events (1000 at most).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// A pod's internal listener, e.g. http://127.0.0.1:8081; default http.internal_addr.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Configuration (http.internal_addr).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin rotate-keys`
#[derive(Debug, Args)]
pub struct RotateKeysArgs {
    /// Append a fresh key to each of the three lists first.
    #[arg(long)]
    pub add: bool,
    /// Backup files to count by sealing key (a backup needs the keys it was sealed under to be restored).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub backups: Vec<std::path::PathBuf>,
    /// A pod's internal listener, e.g. http://127.0.0.1:8081; default http.internal_addr.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Configuration (data dir, http.internal_addr).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin sessions`
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// The user's uuid.
    #[arg(long, value_name = "UUID")]
    pub user: String,
    /// End this session (its id, as the list shows it).
    #[arg(long, value_name = "ID", conflicts_with = "end_all")]
    pub end: Option<String>,
    /// End every session of the user.
    #[arg(long)]
    pub end_all: bool,
    /// A pod's internal listener, e.g. http://127.0.0.1:8081; default http.internal_addr.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Configuration (http.internal_addr).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// A retired command: whatever it is given, it says what replaced it.
#[derive(Debug, Args)]
pub struct RetiredArgs {
    /// Ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// What `admin rebalance` says now.
pub const REBALANCE_RETIRED: &str = "admin rebalance is retired: with the journal on, Kafka's consumer group \
     on the journal topic assigns the partitions to the pods running — scale with `kubectl scale statefulset \
     digit-user --replicas=N` and watch `digit-user admin cluster-status` (README, \"Operating at scale\")";

/// `admin outbox`
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Configuration and data dir.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin unlock`: the user by `--uuid`, or by `--username` with `--tenant` and `--type`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The user's uuid.
    #[arg(long, conflicts_with_all = ["username", "tenant"])]
    pub uuid: Option<String>,
    /// Login name.
    #[arg(long, requires = "tenant")]
    pub username: Option<String>,
    /// Tenant, e.g. `pb.amritsar` (citizens: the state).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Account type.
    #[arg(long = "type", default_value = "EMPLOYEE")]
    pub user_type: String,
    /// Configuration and data dir.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `admin create-user`
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Login name (employee code).
    #[arg(long)]
    pub username: String,
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// Tenant, e.g. `pb.amritsar`.
    #[arg(long)]
    pub tenant: String,
    /// Mobile number.
    #[arg(long)]
    pub mobile: String,
    /// E-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Account type.
    #[arg(long = "type", default_value = "EMPLOYEE")]
    pub user_type: String,
    /// Role codes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "SUPERUSER,EMPLOYEE")]
    pub roles: Vec<String>,
    /// Configuration and data dir.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The internal listener of the service this configuration describes, as a command on the same host
/// reaches it: `http.internal_addr` with a wildcard address made loopback.
pub fn internal_url(settings: &crate::config::Settings) -> String {
    format!(
        "http://{}",
        settings
            .http
            .internal_addr
            .replace("0.0.0.0", "127.0.0.1")
            .replace("[::]", "[::1]")
    )
}
