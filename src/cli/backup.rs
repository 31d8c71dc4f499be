//! `admin backup` and `admin restore`: the embedded deployment's copy of its state in a file.
//!
//! A backup is taken from the running service by default (its internal listener streams
//! `POST /admin/backup` while it keeps serving), or with `--offline` straight from a stopped service's data
//! dir. It is written to `<FILE>.partial`, synced, read back whole (format and checksum), and only then
//! renamed to `FILE`: a file under the final name is a complete backup. The file carries no keys; a restore
//! needs the deployment's secrets, given as for `serve` (`DIGIT_USER_*` or `*_FILE`) — never generated.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::Clock;
use actors::store::{Store, verify_backup};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{BackupArgs, RestoreArgs};
use crate::config::{ProcessEnv, Settings};
use crate::http::admin::BACKUP_ENTRIES_HEADER;
use crate::secrets::Secrets;

/// Takes a backup into `args.to`; one line saying what it holds.
pub fn backup(args: &BackupArgs, settings: &Settings) -> anyhow::Result<String> {
    let partial = partial_path(&args.to);
    let result = if args.offline {
        offline(&partial, settings)
    } else {
        let url = args.url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                settings
                    .http
                    .internal_addr
                    .replace("0.0.0.0", "127.0.0.1")
                    .replace("[::]", "[::1]")
            )
        });
        online(&partial, &url)
    };
    let entries = result
        .and_then(|()| {
            let (_, entries) = check_file(&partial)?;
            std::fs::rename(&partial, &args.to).context("renaming the finished backup")?;
            sync_parent(&args.to)?;
            Ok(entries)
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })?;
    Ok(format!(
        "backup {}: {entries} entries, checked (sealed; keep the deployment's secrets to restore it)",
        args.to.display()
    ))
}

/// Restores `args.from` into the (empty) data dir; one line saying what it restored.
pub fn restore(args: &RestoreArgs, settings: &Settings) -> anyhow::Result<String> {
    let (header, entries) = check_file(&args.from)?;
    let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false)
        .context(
            "a restore needs the secrets of the deployment the backup came from (DIGIT_USER_* or *_FILE)",
        )?;
    let file = File::open(&args.from).with_context(|| args.from.display().to_string())?;
    let bar = entries_bar(entries, "restoring");
    let summary = Store::restore(
        &settings.store_options(),
        secrets.store_keys(),
        BufReader::with_capacity(1 << 20, file),
        |done, _| bar.set_position(done),
    )?;
    bar.finish_and_clear();
    Ok(format!(
        "restored {} entries of a backup from {} into {}",
        summary.entries,
        time::OffsetDateTime::from_unix_timestamp(header.created_ms / 1000)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| header.created_ms.to_string()),
        settings.storage.data_dir.display()
    ))
}

fn online(partial: &Path, url: &str) -> anyhow::Result<()> {
    let endpoint = format!("{}/admin/backup", url.trim_end_matches('/'));
    actix_web::rt::System::new().block_on(async {
        let mut response = reqwest::Client::new()
            .post(&endpoint)
            .send()
            .await
            .with_context(|| {
                format!("asking the service for a backup at {endpoint} (for a stopped service: --offline)")
            })?;
        if !response.status().is_success() {
            bail!("{endpoint} answered {}", response.status());
        }
        let total = response
            .headers()
            .get(BACKUP_ENTRIES_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} receiving: {bytes} ({bytes_per_sec}) {msg}")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Some(total) = total {
            bar.set_message(format!("of about {total} entries"));
        }
        let mut out = BufWriter::new(File::create(partial).context("creating the backup file")?);
        while let Some(chunk) = response
            .chunk()
            .await
            .context("the backup stream broke off")?
        {
            out.write_all(&chunk)?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        finish_file(out)
    })
}

fn offline(partial: &Path, settings: &Settings) -> anyhow::Result<()> {
    let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false)?;
    let store = Store::open(&settings.store_options(), secrets.store_keys())
        .context("opening the data dir (while the service runs, leave out --offline)")?;
    let bar = entries_bar(store.state_entries(), "backing up");
    let out = BufWriter::new(File::create(partial).context("creating the backup file")?);
    let (out, _) = store.backup(out, Clock::System.now_ms(), |done, _| {
        bar.set_position(done)
    })?;
    bar.finish_and_clear();
    finish_file(out)
}

/// Reads the whole file back: format, entry count and checksum. Returns the header and the entry count.
fn check_file(path: &Path) -> anyhow::Result<(actors::store::BackupHeader, u64)> {
    let file = File::open(path).with_context(|| path.display().to_string())?;
    let bar = ProgressBar::new(file.metadata().map(|m| m.len()).unwrap_or(0)).with_style(
        ProgressStyle::with_template("checking {bar:30} {bytes}/{total_bytes}")
            .expect("a valid template"),
    );
    let checked = verify_backup(bar.wrap_read(BufReader::with_capacity(1 << 20, file)))
        .with_context(|| format!("{} is not a whole backup", path.display()))?;
    bar.finish_and_clear();
    Ok(checked)
}

fn entries_bar(total: u64, what: &str) -> ProgressBar {
    ProgressBar::new(total).with_style(
        ProgressStyle::with_template(&format!("{what} {{bar:30}} {{pos}}/{{len}} entries"))
            .expect("a valid template"),
    )
}

/// Flushes and syncs a written backup file.
fn finish_file(out: BufWriter<File>) -> anyhow::Result<()> {
    let file = out.into_inner().context("writing the backup file")?;
    file.sync_all().context("syncing the backup file")?;
    Ok(())
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Syncs the directory of `path`, so the rename that made it is on disk.
fn sync_parent(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context("syncing the backup's directory")
}
