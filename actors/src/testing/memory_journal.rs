//! A journal in memory with Kafka's log semantics as the store relies on them — per partition an
//! append-only sequence of messages, offsets counted from 0, a prefix of a failed append possibly landed —
//! for unit tests of the store's journaled write path. The service's tests run the same paths against a
//! real broker (tests/kafka).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::store::journal::{BARRIER_KEY, JournalMessage, encode};
use crate::store::{JournalError, JournalFuture, JournalPort, Op, StoreError};

/// How the next appends end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weather {
    /// Every append lands and is acknowledged.
    #[default]
    Fair,
    /// Appends fail after `landing` more messages land (a broker gone midway).
    Down {
        /// Messages that still land.
        landing: usize,
    },
    /// Appends land whole but their acknowledgements are lost (a timeout after the write).
    AcksLost,
    /// Appends and barriers wait (a slow broker) until the weather changes, then end as it says.
    Held,
}

/// The journal.
#[derive(Default)]
pub struct MemoryJournal {
    partitions: Mutex<BTreeMap<u16, Vec<JournalMessage>>>,
    weather: Mutex<Weather>,
    /// Told of every change of the weather.
    changed: tokio::sync::Notify,
}

impl MemoryJournal {
    /// Sets how the next appends end.
    pub fn set_weather(&self, weather: Weather) {
        *self.weather.lock().expect("weather") = weather;
        self.changed.notify_waiters();
    }

    /// Waits while the weather is [`Weather::Held`].
    async fn unless_held(&self) {
        loop {
            let changed = self.changed.notified();
            if *self.weather.lock().expect("weather") != Weather::Held {
                return;
            }
            changed.await;
        }
    }

    /// The messages of `partition` (barriers included).
    pub fn messages(&self, partition: u16) -> Vec<JournalMessage> {
        self.partitions
            .lock()
            .expect("partitions")
            .get(&partition)
            .cloned()
            .unwrap_or_default()
    }

    /// Partitions holding messages.
    pub fn partitions(&self) -> Vec<u16> {
        self.partitions
            .lock()
            .expect("partitions")
            .keys()
            .copied()
            .collect()
    }

    /// Forgets `partition` (a topic deleted and created again).
    pub fn lose(&self, partition: u16) {
        self.partitions
            .lock()
            .expect("partitions")
            .remove(&partition);
    }

    /// Adds `messages` to `partition` as the weather allows; the offset of the last.
    fn land(&self, partition: u16, messages: Vec<JournalMessage>) -> Result<i64, JournalError> {
        let mut weather = self.weather.lock().expect("weather");
        let mut partitions = self.partitions.lock().expect("partitions");
        let log = partitions.entry(partition).or_default();
        for message in messages {
            match &mut *weather {
                Weather::Down { landing: 0 } => {
                    return Err(JournalError::Unavailable("the broker is down".into()));
                }
                Weather::Down { landing } => *landing -= 1,
                Weather::Fair | Weather::AcksLost | Weather::Held => {}
            }
            log.push(message);
        }
        match *weather {
            Weather::AcksLost => Err(JournalError::Unavailable("no acknowledgement".into())),
            _ => Ok(log.len() as i64 - 1),
        }
    }
}

impl JournalPort for MemoryJournal {
    fn append<'a>(
        &'a self,
        partition: u16,
        change_set: u64,
        undoes: Option<u64>,
        ops: &'a [Op],
    ) -> JournalFuture<'a, i64> {
        Box::pin(async move {
            self.unless_held().await;
            self.land(partition, encode(change_set, undoes, ops))
        })
    }

    fn barrier(&self, partition: u16) -> JournalFuture<'_, ()> {
        let barrier = JournalMessage {
            key: BARRIER_KEY.to_vec(),
            value: Some(Vec::new()),
            change_set: 0,
            end: true,
            undoes: None,
        };
        Box::pin(async move {
            self.unless_held().await;
            self.land(partition, vec![barrier]).map(|_| ())
        })
    }

    fn read(
        &self,
        partition: u16,
        applied: Option<i64>,
        each: &mut dyn FnMut(i64, &JournalMessage) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let log = self.messages(partition);
        let end = log.len() as i64;
        if let Some(applied) = applied
            && applied >= end
        {
            return Err(JournalError::Unservable(format!(
                "journal partition {partition} ends at {end}, the store applied up to {applied}"
            ))
            .into());
        }
        let from = applied.map_or(0, |a| a + 1);
        for (offset, message) in log.iter().enumerate().skip(from as usize) {
            each(offset as i64, message)?;
        }
        Ok(())
    }
}
