//! One import pass: egov-user's rows read a batch at a time in (id, tenant) order, each mapped to a record
//! of ours ([`super::map`]) and written by the caller's `write` (into the store, or nowhere for a dry run),
//! the progress saved after every batch — so a pass interrupted anywhere resumes after the last batch it
//! saved, and rows it writes twice come back [`Imported::Unchanged`]. The first pass reads every row; each
//! later one only the rows modified since the previous one began (less [`DELTA_MARGIN_MS`]).

use std::path::Path;

use actors::domain::UserRecord;
use actors::domain::roles::RoleCatalog;
use actors::store::{ImportConflict, Imported, StoreError};

use super::map::record;
use super::progress::{Counts, Pass, Progress, ProgressError, from_ms, to_ms};
use super::source::{Selection, Source, SourceError};

/// A delta pass reads the rows modified from a day before the previous pass began: egov-user writes its
/// `timestamp` columns in its JVM's time zone, which need not be the database's.
pub const DELTA_MARGIN_MS: i64 = 24 * 3600 * 1000;

/// What writing one record did.
pub type Written = Result<Imported, ImportConflict>;

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading the source.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Writing the store.
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    /// Keeping the progress.
    #[error(transparent)]
    Progress(#[from] ProgressError),
    /// The running service imported through (`--url`) did not take a batch.
    #[error("the service at {url}: {reason}")]
    Service {
        /// Its internal listener.
        url: String,
        /// What it answered, or why it did not.
        reason: String,
    },
}

/// How a pass runs.
pub struct PassOptions<'a> {
    /// Role names by code.
    pub catalog: &'a RoleCatalog,
    /// Rows a batch.
    pub batch: i64,
    /// Where the progress is saved after each batch; `None` (a dry run): nowhere.
    pub save_to: Option<&'a Path>,
    /// Rows this run reads at most (whole batches; the next run resumes the pass); `None`: all.
    pub limit: Option<u64>,
}

/// Where a run of a pass stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassEnd {
    /// The pass's counts (a resumed pass's include what its earlier runs did).
    pub counts: Counts,
    /// Whether the pass read its last row (else the limit stopped this run).
    pub finished: bool,
}

/// Runs (or resumes) a pass over the rows `progress` selects, to its end or the run's limit. `write` stores a
/// batch's records and answers for each; `shown` is told the counts and the pass's row total after every
/// batch.
pub fn pass(
    source: &mut Source,
    progress: &mut Progress,
    options: &PassOptions<'_>,
    mut write: impl FnMut(&[UserRecord]) -> Result<Vec<Written>, ImportError>,
    mut shown: impl FnMut(&Counts, u64),
) -> Result<PassEnd, ImportError> {
    let mut pass = match progress.pass.take() {
        Some(pass) => pass,
        None => Pass {
            since_ms: progress.next_since_ms,
            began_ms: to_ms(source.now()?),
            after: (i64::MIN, String::new()),
            counts: Counts::default(),
        },
    };
    let undated_ms = *progress.undated_ms.get_or_insert(pass.began_ms);
    let selection = Selection {
        tenant: progress.tenant.clone(),
        modified_since: pass.since_ms.map(from_ms),
    };
    let total = u64::try_from(source.count(&selection)?).unwrap_or(0);
    shown(&pass.counts, total);
    let mut read_here = 0u64;
    loop {
        if options.limit.is_some_and(|limit| read_here >= limit) {
            return Ok(PassEnd {
                counts: pass.counts,
                finished: false,
            });
        }
        let rows = source.batch(&selection, (pass.after.0, &pass.after.1), options.batch)?;
        let Some(last) = rows.last() else {
            break;
        };
        pass.after = (last.id, last.tenant.clone());
        let mapped: Vec<_> = rows
            .iter()
            .map(|row| record(row, source.schema(), options.catalog, undated_ms))
            .collect();
        let records: Vec<UserRecord> = mapped.iter().filter_map(|m| m.clone().ok()).collect();
        let mut written = write(&records)?.into_iter();
        for (row, mapped) in rows.iter().zip(&mapped) {
            pass.counts.read += 1;
            read_here += 1;
            let skipped = match mapped {
                Err(skip) => Some(skip.to_string()),
                Ok(_) => match written.next() {
                    Some(Ok(Imported::New)) => count(&mut pass.counts.new),
                    Some(Ok(Imported::Updated)) => count(&mut pass.counts.updated),
                    Some(Ok(Imported::Unchanged)) => count(&mut pass.counts.unchanged),
                    Some(Err(conflict)) => Some(conflict.to_string()),
                    None => Some("not written".to_owned()),
                },
            };
            if skipped.is_some() {
                pass.counts.skipped += 1;
            }
            progress.row(row.id, &row.tenant, skipped);
        }
        progress.pass = Some(pass.clone());
        if let Some(path) = options.save_to {
            progress.save(path)?;
        }
        shown(&pass.counts, total);
    }
    progress.pass = None;
    progress.next_since_ms = Some(pass.began_ms - DELTA_MARGIN_MS);
    progress.passes += 1;
    progress.last = Some(pass.counts);
    if let Some(path) = options.save_to {
        progress.save(path)?;
    }
    Ok(PassEnd {
        counts: pass.counts,
        finished: true,
    })
}

fn count(n: &mut u64) -> Option<String> {
    *n += 1;
    None
}
