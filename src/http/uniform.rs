//! `security.uniform_answers`: the flows whose answers would tell a guesser whether an account exists answer
//! alike for every account, and no sooner than `security.answer_floor_ms` after the request arrived, so the
//! time taken tells nothing either (the floor is a wait on a timer: it costs no worker).

use std::time::Duration;

use tokio::time::Instant;

use crate::config::SecuritySettings;

/// The answer envelope of one request: when on, the moment before which it may not be answered.
#[derive(Debug, Clone, Copy)]
pub struct UniformAnswer {
    floor: Option<Instant>,
}

impl UniformAnswer {
    /// The envelope of a request arriving now under `security`; off unless `uniform_answers`.
    pub fn open(security: &SecuritySettings) -> Self {
        Self {
            floor: security
                .uniform_answers
                .then(|| Instant::now() + Duration::from_millis(security.answer_floor_ms)),
        }
    }

    /// Whether answers are to be uniform.
    pub fn uniform(&self) -> bool {
        self.floor.is_some()
    }

    /// Waits for the floor (at once when it passed, or when off).
    pub async fn close(self) {
        if let Some(floor) = self.floor {
            tokio::time::sleep_until(floor).await;
        }
    }
}
