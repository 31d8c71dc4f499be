//! `digit-user admin import` and `admin import verify`: egov-user's users moved into the data dir of a
//! stopped pod with the journal off, or through a running deployment (`--url`) ([`crate::import`] reads,
//! maps and keeps the progress; this file connects, opens the keys and the target, shows the progress and
//! prints the report).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use zeroize::Zeroizing;

use actors::Clock;
use actors::domain::UserRecord;
use actors::store::{ImportConflict, Imported, Store, StoreError, UserWriteError};

use crate::cli::{ImportArgs, ImportSource, ImportVerifyArgs};
use crate::config::{ProcessEnv, Settings};
use crate::import::enc::{EncKeys, KeyRow, MasterKey};
use crate::import::progress::{Counts, Progress, SkippedRow};
use crate::import::remote::Remote;
use crate::import::run::{self, ImportError, PassOptions, Written};
use crate::import::source::{Selection, Source};
use crate::import::verify;
use crate::journal::open_store;
use crate::secrets::Secrets;

/// Skipped rows the report lists (all of them are in the progress file).
const LISTED: usize = 20;

/// egov-enc-service's `master.*` settings, as `--enc-master` holds them.
#[derive(Deserialize)]
struct MasterSettings {
    password: String,
    salt: String,
    initialvector: String,
}

/// Where an import writes and verification reads.
enum Target {
    /// The data dir of a stopped pod (journal off).
    Store(Box<Store>),
    /// A running deployment, through a pod's internal listener.
    Service(Remote),
}

impl Target {
    /// `--url`'s deployment, else the data dir of `settings` (refused with the journal on: a journaled
    /// store is written by its pods only); `create`: give a data dir the service never ran on its keys.
    fn of(args: &ImportSource, settings: &Settings, create: bool) -> anyhow::Result<Self> {
        if let Some(url) = &args.url {
            return Ok(Self::Service(Remote::new(url)?));
        }
        refuse_journal(settings)?;
        let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, create)?;
        Ok(Self::Store(Box::new(open_store(
            settings,
            secrets.store_keys(),
        )?)))
    }

    async fn write(
        &self,
        records: &[UserRecord],
        now_ms: i64,
    ) -> Result<Vec<Written>, ImportError> {
        match self {
            Self::Store(store) => Ok(write_all(store, records, now_ms).await?),
            Self::Service(remote) => remote.import(records).await,
        }
    }

    async fn stored(&self, ids: &[i64]) -> Result<HashMap<i64, UserRecord>, ImportError> {
        match self {
            Self::Store(store) => {
                let mut found = HashMap::new();
                for id in ids {
                    if let Some(user) = store.users().get(*id)? {
                        found.insert(*id, user);
                    }
                }
                Ok(found)
            }
            Self::Service(remote) => remote.users(ids).await,
        }
    }

    async fn flush(&self) -> Result<(), StoreError> {
        match self {
            Self::Store(store) => store.flush().await,
            Self::Service(_) => Ok(()),
        }
    }
}

/// Runs (or resumes) an import pass; the report.
pub fn import(args: &ImportArgs, settings: &Settings) -> anyhow::Result<String> {
    if args.source.url.is_none() {
        refuse_journal(settings)?;
    }
    let (mut source, name) = connect(&args.source)?;
    let (catalog, _) = settings.catalogs()?;
    let path = Progress::path(&settings.storage.data_dir, &args.source.tenant);
    let mut progress = Progress::load(&path, &name, &args.source.tenant)?;
    let resumed = progress.pass.is_some();
    let delta = progress.next_since_ms.is_some();
    let now_ms = Clock::System.now_ms();
    let mut options = PassOptions {
        catalog: &catalog,
        batch: args.batch,
        save_to: None,
        limit: args.limit,
    };
    let mut shown = Shown::new();
    let end = if args.dry_run {
        let nothing =
            |records: &[UserRecord]| Ok(records.iter().map(|_| Ok(Imported::New)).collect());
        run::pass(&mut source, &mut progress, &options, nothing, |c, t| {
            shown.show(c, t)
        })?
    } else {
        options.save_to = Some(&path);
        let runtime = actix_web::rt::System::new();
        let target = Target::of(&args.source, settings, true)?;
        let write = |records: &[UserRecord]| runtime.block_on(target.write(records, now_ms));
        let end = run::pass(&mut source, &mut progress, &options, write, |c, t| {
            shown.show(c, t)
        })?;
        runtime.block_on(target.flush())?;
        end
    };
    shown.done();
    let what = match (args.dry_run, resumed, delta) {
        (true, _, _) => "dry run, nothing written",
        (false, true, _) => "an interrupted pass resumed",
        (false, false, true) => "rows modified since the last pass",
        (false, false, false) => "every row",
    };
    let mut out = report(
        &name,
        &args.source.tenant,
        what,
        &end.counts,
        &progress.skipped,
        &path,
    );
    if !end.finished {
        out += "\nstopped at --limit: run the same command again to go on where this run stopped";
    }
    Ok(out)
}

/// Compares the source with the store; the report, or an error carrying it.
pub fn verify(args: &ImportVerifyArgs, settings: &Settings) -> anyhow::Result<String> {
    let (mut source, name) = connect(&args.source)?;
    let (catalog, _) = settings.catalogs()?;
    let path = Progress::path(&settings.storage.data_dir, &args.source.tenant);
    let progress = Progress::load(&path, &name, &args.source.tenant)?;
    let runtime = actix_web::rt::System::new();
    let target = Target::of(&args.source, settings, false)?;
    let selection = Selection {
        tenant: args.source.tenant.clone(),
        modified_since: None,
    };
    let found = verify::verify(
        &mut source,
        &selection,
        &catalog,
        500,
        args.sample_every,
        progress
            .undated_ms
            .unwrap_or_else(|| Clock::System.now_ms()),
        |ids| runtime.block_on(target.stored(ids)),
    )?;
    let named = |rows: &[(i64, String)]| {
        rows.iter()
            .take(LISTED)
            .map(|(id, tenant)| format!("{id} {tenant}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut line = format!(
        "verified {} rows of {name}: {} here with the same keys, {} compared field by field, {} changed here since",
        found.rows, found.matched, found.sampled, found.changed_here
    );
    if !found.missing.is_empty() {
        line += &format!(
            "; {} missing: {}",
            found.missing.len(),
            named(&found.missing)
        );
    }
    if !found.differ.is_empty() {
        let differ: Vec<String> = found
            .differ
            .iter()
            .take(LISTED)
            .map(|(id, tenant, field)| format!("{id} {tenant} ({field})"))
            .collect();
        line += &format!("; {} differ: {}", found.differ.len(), differ.join(", "));
    }
    if !found.unstorable.is_empty() || !progress.skipped.is_empty() {
        line += &format!(
            "; {} rows cannot be stored (reasons in {}): {}",
            found.unstorable.len().max(progress.skipped.len()),
            path.display(),
            named(&found.unstorable)
        );
    }
    if found.ok() && progress.skipped.is_empty() {
        Ok(line)
    } else {
        bail!(line)
    }
}

/// A journaled store is written by its pods only: a journaled deployment is imported into through one of
/// them.
fn refuse_journal(settings: &Settings) -> anyhow::Result<()> {
    if settings.journal_on() {
        bail!(
            "the journal is on: import through the running deployment with --url http://<pod>:<internal \
             port> (README \"Moving from egov-user\"); without --url admin import writes into the data dir \
             of a stopped pod with the journal off"
        );
    }
    Ok(())
}

/// The source, its keys opened, and its name without credentials (host:port/database).
fn connect(args: &ImportSource) -> anyhow::Result<(Source, String)> {
    let config: postgres::Config = args
        .from_postgres
        .parse()
        .context("--from-postgres is not a PostgreSQL URL")?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let name = format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""));
    let mut source = Source::connect(&args.from_postgres, EncKeys::default())
        .with_context(|| format!("egov-user's database at {name}"))?;
    if let Some(master) = &args.enc_master {
        let master: MasterSettings = serde_json::from_slice(&read(master)?).with_context(|| {
            format!(
                "{}: not egov-enc-service's master settings",
                master.display()
            )
        })?;
        let rows: Vec<KeyRow> = match &args.enc_keys {
            Some(file) => serde_json::from_slice(&read(file)?)
                .with_context(|| format!("{}: not a list of key rows", file.display()))?,
            None => source.enc_key_rows()?.context(
                "egov-user's database has no eg_enc_symmetric_keys table: give its rows with --enc-keys",
            )?,
        };
        let password = Zeroizing::new(master.password);
        let master = MasterKey::derive(&password, &master.salt, &master.initialvector)?;
        source.set_keys(EncKeys::open(&master, &rows)?);
    }
    Ok((source, name))
}

fn read(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(
        std::fs::read(path).with_context(|| path.display().to_string())?,
    ))
}

/// Imports `records` into `store` at once (one group commit for many), each answering for itself.
async fn write_all(
    store: &Store,
    records: &[UserRecord],
    now_ms: i64,
) -> Result<Vec<Written>, StoreError> {
    let users = store.users();
    let written = join_all(records.iter().map(|r| users.import(r, now_ms))).await;
    written
        .into_iter()
        .map(|w| match w {
            Ok(imported) => Ok(Ok(imported)),
            Err(UserWriteError::Refused(conflict)) => Ok(Err(conflict)),
            Err(UserWriteError::Duplicate) => Ok(Err(ImportConflict::UserName)),
            Err(UserWriteError::NotFound) => Ok(Err(ImportConflict::Id)),
            Err(UserWriteError::Store(e)) => Err(e),
        })
        .collect()
}

/// The report of a pass, one line per part.
fn report(
    name: &str,
    tenant: &str,
    what: &str,
    counts: &Counts,
    skipped: &[SkippedRow],
    path: &Path,
) -> String {
    let tenant = if tenant.is_empty() {
        "every tenant"
    } else {
        tenant
    };
    let mut out = format!(
        "imported from {name} ({tenant}; {what}): {} rows read, {} new, {} updated, {} unchanged, {} skipped",
        counts.read, counts.new, counts.updated, counts.unchanged, counts.skipped
    );
    if !skipped.is_empty() {
        out += &format!(
            "\n{} rows not stored (id, tenant: why; all in {}):",
            skipped.len(),
            path.display()
        );
        for row in skipped.iter().take(LISTED) {
            out += &format!("\n  {} {}: {}", row.id, row.tenant, row.reason);
        }
    }
    out
}

/// Progress on standard error: a bar on a terminal, else a line every few seconds.
struct Shown {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
    first_read: Option<u64>,
}

/// How often a line of progress is printed when standard error is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

impl Shown {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} rows, {per_sec}, {eta} left {msg}",
                )
                .expect("a valid template"),
            )
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: None,
            first_read: None,
        }
    }

    fn show(&mut self, counts: &Counts, total: u64) {
        let first = *self.first_read.get_or_insert(counts.read);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(counts.read);
            bar.set_message(format!("({} skipped)", counts.skipped));
            return;
        }
        if self.last_line.is_some_and(|at| at.elapsed() < LINE_EVERY) {
            return;
        }
        self.last_line = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (counts.read - first) as f64 / seconds;
        let left = total.saturating_sub(counts.read) as f64 / rate.max(0.001);
        eprintln!(
            "import: {} of {total} rows ({} new, {} updated, {} unchanged, {} skipped), {rate:.0} rows/s, about {left:.0} s left",
            counts.read, counts.new, counts.updated, counts.unchanged, counts.skipped
        );
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
