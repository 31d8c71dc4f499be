//! `admin backup` and `admin restore`: the embedded deployment's copy of its state in a file.
//!
//! A backup is taken from the running service by default (its internal listener streams
//! `POST /admin/backup` while it keeps serving), or with `--offline` straight from a stopped service's data
//! dir. It is written to `<FILE>.partial`, synced, read back whole (format and checksum), and only then
//! renamed to `FILE`: a file under the final name is a complete backup.
//!
//! Keys: by default the file carries none, and a restore needs the deployment's secrets, given as for
//! `serve` (`DIGIT_USER_*` or `*_FILE`) — never generated. With `--with-keys` the file starts with the
//! secrets wrapped under a passphrase the operator types ([`WrappedSecrets`]); a restore that finds no
//! secrets of its own asks for the passphrase, restores with those keys and installs them into the data dir.
//!
//! ```text
//! [ "digit-user backup keys 1\n", u32 length, WrappedSecrets JSON ]   only with --with-keys
//! the backup stream (actors::store::backup::format)
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::Clock;
use actors::store::{Store, verify_backup};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{BackupArgs, RestoreArgs};
use crate::config::{ProcessEnv, Settings};
use crate::secrets::wrap::{MIN_PASSPHRASE, WrappedSecrets};
use crate::secrets::{SecretError, Secrets};

const KEYS_MAGIC: &[u8] = b"digit-user backup keys 1\n";

/// Takes a backup into `args.to`; one line saying what it holds.
pub fn backup(args: &BackupArgs, settings: &Settings) -> anyhow::Result<String> {
    let partial = partial_path(&args.to);
    let keys = if args.with_keys {
        let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false)
            .context("--with-keys needs the deployment's secrets (DIGIT_USER_* or *_FILE)")?;
        let passphrase = read_passphrase(true)?;
        Some(WrappedSecrets::wrap(&secrets, &passphrase)?)
    } else {
        None
    };
    // readable by the operator alone: sealed entries and blind indexes, or wrapped keys
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .context("creating the backup file")?;
    if let Some(wrapped) = &keys {
        let json = serde_json::to_vec(wrapped)?;
        out.write_all(KEYS_MAGIC)?;
        out.write_all(&(json.len() as u32).to_be_bytes())?;
        out.write_all(&json)?;
    }
    let out = BufWriter::new(out);
    let result = if args.offline {
        offline(out, settings)
    } else {
        let url = args
            .url
            .clone()
            .unwrap_or_else(|| super::internal_url(settings));
        online(out, &url)
    };
    let entries = result
        .and_then(|()| {
            let (_, entries, _) = check_file(&partial, None)?;
            std::fs::rename(&partial, &args.to).context("renaming the finished backup")?;
            sync_parent(&args.to)?;
            Ok(entries)
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })?;
    let carries = match keys {
        Some(_) => "with the keys, wrapped under your passphrase",
        None => "without keys: keep the deployment's secrets to restore it",
    };
    Ok(format!(
        "backup {}: {entries} entries, checked, sealed, {carries}",
        args.to.display()
    ))
}

/// Restores `args.from` into the (empty) data dir; one line saying what it restored.
pub fn restore(args: &RestoreArgs, settings: &Settings) -> anyhow::Result<String> {
    if settings.journal_on() {
        bail!(
            "the journal is on: a journaled pod rebuilds its data dir from the journal — start it on an empty \
             data dir (restore a backup file only into a deployment without the journal)"
        );
    }
    if actors::store::holds_store(&settings.storage.data_dir) {
        return Err(actors::store::BackupError::NotEmpty(
            settings.storage.data_dir.display().to_string(),
        )
        .into());
    }
    let wrapped = read_keys_of(&args.from)?;
    let (secrets, from_file) =
        match Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false) {
            Ok(secrets) => (secrets, false),
            Err(SecretError::Missing(_)) if wrapped.is_some() => {
                let passphrase = read_passphrase(false)?;
                let wrapped = wrapped.as_ref().expect("matched");
                (wrapped.unwrap(&passphrase)?, true)
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(
                    "a restore needs the secrets of the deployment the backup came from \
                     (DIGIT_USER_* or *_FILE), or a backup taken --with-keys",
                ));
            }
        };
    // the whole file checked first — whole, and written by this deployment — before anything is written
    let key = actors::store::backup_key(&secrets.store_keys());
    let (header, entries, _) = check_file(&args.from, Some(&key))?;
    let mut input = BufReader::with_capacity(
        1 << 20,
        File::open(&args.from).with_context(|| args.from.display().to_string())?,
    );
    read_envelope(&mut input)?;
    if from_file {
        // first: a dir whose store is restored is never left without the keys it was written under
        secrets
            .install(&settings.storage.data_dir)
            .context("installing the backup's keys into the data dir")?;
    }
    let bar = entries_bar(entries, "restoring");
    let summary = Store::restore(
        &settings.store_options(),
        secrets.store_keys(),
        input,
        |done, _| bar.set_position(done),
    )?;
    bar.finish_and_clear();
    Ok(format!(
        "restored {} entries of a backup from {} into {}",
        summary.entries,
        time::OffsetDateTime::from_unix_timestamp(header.created_ms / 1000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| header.created_ms.to_string()),
        settings.storage.data_dir.display()
    ))
}

fn online(mut out: BufWriter<File>, url: &str) -> anyhow::Result<()> {
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
        // the size is not known ahead (the pod would have to walk every tree to count): bytes as they come
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} receiving: {bytes} ({bytes_per_sec})")
                .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
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

fn offline(out: BufWriter<File>, settings: &Settings) -> anyhow::Result<()> {
    let secrets = Secrets::load_or_generate(&settings.storage.data_dir, &ProcessEnv, false)?;
    let store = Store::open(&settings.store_options(), secrets.store_keys())
        .context("opening the data dir (while the service runs, leave out --offline)")?;
    let bar = entries_bar(store.state_entries(), "backing up");
    let max_changes = settings.storage.backup_max_changes;
    let slot = store.reserve_backup()?;
    let (out, _) = store.backup(
        &slot,
        out,
        Clock::System.now_ms(),
        max_changes,
        |done, _| bar.set_position(done),
    )?;
    bar.finish_and_clear();
    finish_file(out)
}

/// The keys envelope at the start of the backup at `path`, if any.
fn read_keys_of(path: &Path) -> anyhow::Result<Option<WrappedSecrets>> {
    let file = File::open(path).with_context(|| path.display().to_string())?;
    read_envelope(&mut BufReader::new(file))
        .with_context(|| format!("{} is not a whole backup", path.display()))
}

/// Reads the whole file back: keys envelope, format, entry count and checksum, and with `key` that this
/// deployment wrote it. Returns the header, the entry count and the wrapped keys, if the file carries them.
fn check_file(
    path: &Path,
    key: Option<&actors::store::MacKey>,
) -> anyhow::Result<(actors::store::BackupHeader, u64, Option<WrappedSecrets>)> {
    let file = File::open(path).with_context(|| path.display().to_string())?;
    let bar = ProgressBar::new(file.metadata().map(|m| m.len()).unwrap_or(0)).with_style(
        ProgressStyle::with_template("checking {bar:30} {bytes}/{total_bytes}")
            .expect("a valid template"),
    );
    let mut input = BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    let not_whole = || format!("{} is not a whole backup", path.display());
    let keys = read_envelope(&mut input).with_context(not_whole)?;
    let (header, entries) = verify_backup(input, key).with_context(not_whole)?;
    bar.finish_and_clear();
    Ok((header, entries, keys))
}

/// Reads the keys envelope at the start of a backup file, if there is one, leaving `input` at the backup.
fn read_envelope<R: Read>(input: &mut BufReader<R>) -> anyhow::Result<Option<WrappedSecrets>> {
    if !input.fill_buf()?.starts_with(KEYS_MAGIC) {
        return Ok(None);
    }
    input.consume(KEYS_MAGIC.len());
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 1 << 20 {
        bail!("the keys envelope is {len} bytes long");
    }
    let mut json = vec![0u8; len];
    input.read_exact(&mut json)?;
    Ok(Some(
        serde_json::from_slice(&json).context("the keys envelope")?,
    ))
}

/// The passphrase from standard input when it is piped, else typed (twice when `confirm`).
fn read_passphrase(confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let stdin = std::io::stdin();
    let passphrase = if stdin.is_terminal() {
        let first = zeroize::Zeroizing::new(rpassword::prompt_password("backup passphrase: ")?);
        if confirm {
            let again = zeroize::Zeroizing::new(rpassword::prompt_password("again: ")?);
            if *first != *again {
                bail!("the two passphrases differ");
            }
        }
        first
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the passphrase from standard input")?;
        zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    if passphrase.chars().count() < MIN_PASSPHRASE {
        bail!("the passphrase must have at least {MIN_PASSPHRASE} characters");
    }
    Ok(passphrase)
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
