//! Time as an input: everything that needs "now" asks a [`Clock`], so tests can hold time still.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in epoch milliseconds (UTC).
#[derive(Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that only moves when told to (tests).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `epoch_ms`.
    pub fn manual(epoch_ms: i64) -> Self {
        Self::Manual(Arc::new(AtomicI64::new(epoch_ms)))
    }

    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System => {
                time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
            }
            Self::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock.
    pub fn advance_ms(&self, by: i64) {
        if let Self::Manual(ms) = self {
            ms.fetch_add(by, Ordering::SeqCst);
        }
    }
}
