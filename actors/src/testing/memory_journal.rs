//! A journal in memory with Kafka's log semantics as the store relies on them — per partition an
//! append-only sequence of messages, offsets counted from 0, a prefix of a failed append possibly landed —
//! for unit tests of the store's journaled write path. The service's tests run the same paths against a
//! real broker (tests/kafka).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::store::fencing::claim_message;
use crate::store::journal::{JournalMessage, encode};
use crate::store::{JournalError, JournalFuture, JournalPort, Landed, Op, StoreError};

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
    /// Appends and claims wait (a slow broker) until the weather changes, then end as it says.
    Held,
}

/// The journal.
#[derive(Default)]
pub struct MemoryJournal {
    /// Per partition its messages by offset; `None` where compaction removed one.
    partitions: Mutex<BTreeMap<u16, Vec<Option<JournalMessage>>>>,
    weather: Mutex<Weather>,
    /// The next reads (count) end this many messages before the end (a broker whose fetch answered an
    /// older end than what it acknowledged).
    short_reads: Mutex<(usize, usize)>,
    /// Told of every change of the weather.
    changed: tokio::sync::Notify,
}

impl MemoryJournal {
    /// Sets how the next appends end.
    pub fn set_weather(&self, weather: Weather) {
        *self.weather.lock().expect("weather") = weather;
        self.changed.notify_waiters();
    }

    /// Makes the next `reads` reads end `by` messages before the partition's end.
    pub fn end_reads_short(&self, reads: usize, by: usize) {
        *self.short_reads.lock().expect("short reads") = (reads, by);
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

    /// A journal holding the same messages (fair weather): what a copy of the topic would be.
    pub fn copy(&self) -> MemoryJournal {
        MemoryJournal {
            partitions: Mutex::new(self.partitions.lock().expect("partitions").clone()),
            ..MemoryJournal::default()
        }
    }

    /// Compacts `partition` as Kafka's cleaner would with no lag: of every key only its latest message
    /// stays (claims, each of a key of its own, all stay). Offsets do not change.
    pub fn compact(&self, partition: u16) {
        let mut partitions = self.partitions.lock().expect("partitions");
        let Some(log) = partitions.get_mut(&partition) else {
            return;
        };
        let mut latest = BTreeMap::new();
        for (offset, message) in log.iter().enumerate() {
            if let Some(message) = message {
                latest.insert(message.key.clone(), offset);
            }
        }
        for (offset, slot) in log.iter_mut().enumerate() {
            if slot
                .as_ref()
                .is_some_and(|m| latest.get(&m.key) != Some(&offset))
            {
                *slot = None;
            }
        }
    }

    /// The messages of `partition` (claims included; compacted ones left out).
    pub fn messages(&self, partition: u16) -> Vec<JournalMessage> {
        self.partitions
            .lock()
            .expect("partitions")
            .get(&partition)
            .map(|log| log.iter().flatten().cloned().collect())
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

    /// Adds `messages` to `partition` as the weather allows; where they landed.
    fn land(&self, partition: u16, messages: Vec<JournalMessage>) -> Result<Landed, JournalError> {
        let mut weather = self.weather.lock().expect("weather");
        let mut partitions = self.partitions.lock().expect("partitions");
        let log = partitions.entry(partition).or_default();
        let first = log.len() as i64;
        for message in messages {
            match &mut *weather {
                Weather::Down { landing: 0 } => {
                    return Err(JournalError::Unavailable("the broker is down".into()));
                }
                Weather::Down { landing } => *landing -= 1,
                Weather::Fair | Weather::AcksLost | Weather::Held => {}
            }
            log.push(Some(message));
        }
        match *weather {
            Weather::AcksLost => Err(JournalError::Unavailable("no acknowledgement".into())),
            _ => Ok(Landed {
                first,
                last: log.len() as i64 - 1,
            }),
        }
    }
}

impl JournalPort for MemoryJournal {
    fn append<'a>(
        &'a self,
        partition: u16,
        generation: u64,
        change_set: u64,
        undoes: Option<u64>,
        ops: &'a [Op],
    ) -> JournalFuture<'a, Landed> {
        Box::pin(async move {
            self.unless_held().await;
            self.land(partition, encode(generation, change_set, undoes, ops))
        })
    }

    fn claim(&self, partition: u16) -> JournalFuture<'_, i64> {
        let claim = claim_message();
        Box::pin(async move {
            self.unless_held().await;
            self.land(partition, vec![claim]).map(|landed| landed.last)
        })
    }

    fn end(&self, partition: u16) -> Result<i64, StoreError> {
        let partitions = self.partitions.lock().expect("partitions");
        Ok(partitions.get(&partition).map_or(0, |log| log.len() as i64))
    }

    fn read(
        &self,
        partition: u16,
        applied: Option<i64>,
        each: &mut dyn FnMut(i64, &JournalMessage) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let log = self
            .partitions
            .lock()
            .expect("partitions")
            .get(&partition)
            .cloned()
            .unwrap_or_default();
        let mut end = log.len() as i64;
        {
            let mut short = self.short_reads.lock().expect("short reads");
            if short.0 > 0 {
                short.0 -= 1;
                end = (end - short.1 as i64).max(applied.map_or(0, |a| a + 1));
            }
        }
        if let Some(applied) = applied
            && applied >= end
        {
            return Err(JournalError::Unservable(format!(
                "journal partition {partition} ends at {end}, the store applied up to {applied}"
            ))
            .into());
        }
        let from = applied.map_or(0, |a| a + 1);
        for (offset, message) in log
            .iter()
            .enumerate()
            .take(end as usize)
            .skip(from as usize)
        {
            if let Some(message) = message {
                each(offset as i64, message)?;
            }
        }
        Ok(())
    }
}
