//! Where an import stands, in a file beside the store (`<data dir>/import/egov-user-<tenant>.json`): the
//! pass under way and the last (id, tenant) it wrote — an interrupted pass resumes after it — the moment
//! the next (delta) pass reads from, and the rows skipped and not imported since, with why. It names
//! users by id and tenant only: nothing in it is PII. Written whole to a temporary file, then renamed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

/// What one pass did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows read.
    pub read: u64,
    /// Users stored that were not here.
    pub new: u64,
    /// Users replaced: the source changed them since.
    pub updated: u64,
    /// Users left as they were.
    pub unchanged: u64,
    /// Rows not stored (see [`Progress::skipped`]).
    pub skipped: u64,
}

/// A pass under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    /// Rows modified from this moment (ms of the source's clock read as UTC); `None`: every row.
    pub since_ms: Option<i64>,
    /// The source's clock when the pass began: where the next pass reads from (less a margin).
    pub began_ms: i64,
    /// The last (id, tenant) written; the pass goes on after it.
    pub after: (i64, String),
    /// What it did so far.
    pub counts: Counts,
}

/// One row not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRow {
    /// `eg_user.id`.
    pub id: i64,
    /// `eg_user.tenantid`.
    pub tenant: String,
    /// Why, in words (no value of the row).
    pub reason: String,
}

/// The progress of the imports of one source and tenant selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The source, without credentials (host, port, database).
    pub source: String,
    /// The tenant selected ("" = every tenant).
    pub tenant: String,
    /// The pass under way, if one was interrupted.
    pub pass: Option<Pass>,
    /// Where the next pass reads from, once a pass has finished (ms of the source's clock).
    pub next_since_ms: Option<i64>,
    /// When the first pass began (ms of the source's clock): the date of every date egov-user left
    /// empty, the same in every pass (so such a row reads unchanged the next time).
    pub undated_ms: Option<i64>,
    /// Passes finished.
    pub passes: u32,
    /// The counts of the last pass finished.
    pub last: Option<Counts>,
    /// Rows skipped and not stored since.
    pub skipped: Vec<SkippedRow>,
}

/// Why the progress file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// Reading or writing it.
    #[error("import progress {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a progress file.
    #[error("import progress {path} is not readable: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A progress file of another source.
    #[error(
        "import progress {path} is of another source ({recorded}); move it away to import from {given}"
    )]
    OtherSource {
        /// The file.
        path: PathBuf,
        /// The source it records.
        recorded: String,
        /// The source given now.
        given: String,
    },
}

impl Progress {
    /// The file of `tenant`'s imports under `data_dir`.
    pub fn path(data_dir: &Path, tenant: &str) -> PathBuf {
        let name = match tenant {
            "" => "all".to_owned(),
            t => t.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_"),
        };
        data_dir
            .join("import")
            .join(format!("egov-user-{name}.json"))
    }

    /// The progress kept at `path` for `source` and `tenant`, or a fresh one.
    pub fn load(path: &Path, source: &str, tenant: &str) -> Result<Self, ProgressError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    source: source.to_owned(),
                    tenant: tenant.to_owned(),
                    ..Self::default()
                });
            }
            Err(source) => {
                return Err(ProgressError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let progress: Self =
            serde_json::from_slice(&text).map_err(|source| ProgressError::Format {
                path: path.to_owned(),
                source,
            })?;
        if progress.source != source {
            return Err(ProgressError::OtherSource {
                path: path.to_owned(),
                recorded: progress.source,
                given: source.to_owned(),
            });
        }
        Ok(progress)
    }

    /// Writes it to `path` (a temporary file renamed over it, so a crash leaves the old one or the new).
    pub fn save(&self, path: &Path) -> Result<(), ProgressError> {
        let io = |source| ProgressError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_vec_pretty(self).expect("progress serialises");
        std::fs::write(&partial, text).map_err(io)?;
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)
    }

    /// Records the outcome of one row: a skip replaces any earlier one of the row, a store clears it.
    pub fn row(&mut self, id: i64, tenant: &str, skipped: Option<String>) {
        self.skipped.retain(|r| !(r.id == id && r.tenant == tenant));
        if let Some(reason) = skipped {
            self.skipped.push(SkippedRow {
                id,
                tenant: tenant.to_owned(),
                reason,
            });
        }
    }
}

/// A `timestamp` of the source as ms, read as UTC.
pub fn to_ms(at: PrimitiveDateTime) -> i64 {
    (at.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Ms of the source's clock as its `timestamp`.
pub fn from_ms(ms: i64) -> PrimitiveDateTime {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    PrimitiveDateTime::new(at.date(), at.time())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_file_comes_back_as_saved_and_refuses_another_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = Progress::path(dir.path(), "pb");
        assert!(path.ends_with("import/egov-user-pb.json"));
        let mut progress = Progress::load(&path, "db:5432/egov", "pb").unwrap();
        assert_eq!(progress.pass, None);
        progress.pass = Some(Pass {
            since_ms: None,
            began_ms: 7,
            after: (12, "pb.amritsar".into()),
            counts: Counts {
                read: 3,
                ..Counts::default()
            },
        });
        progress.row(12, "pb.amritsar", Some("no uuid".into()));
        progress.row(12, "pb.amritsar", Some("its uuid is not a uuid".into()));
        progress.row(13, "pb", Some("no uuid".into()));
        progress.row(13, "pb", None);
        progress.save(&path).unwrap();
        let back = Progress::load(&path, "db:5432/egov", "pb").unwrap();
        assert_eq!(back, progress);
        assert_eq!(
            back.skipped.len(),
            1,
            "one entry a row, cleared once stored"
        );
        assert_eq!(back.skipped[0].reason, "its uuid is not a uuid");
        assert!(matches!(
            Progress::load(&path, "other:5432/egov", "pb"),
            Err(ProgressError::OtherSource { .. })
        ));
    }

    #[test]
    fn a_source_timestamp_survives_the_trip_through_ms() {
        let at = time::macros::datetime!(2024-03-05 10:11:12.345);
        assert_eq!(from_ms(to_ms(at)), at);
    }
}
