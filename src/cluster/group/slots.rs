//! This pod's side of the group's assignment, per partition: idle, assigned (being taken over: claimed and
//! replayed), serving, given way (to another pod the group also gave it to) or *handing over* (revoked, still
//! answering until the next owner has taken it over and says so, `cluster.handover_ms` at most), the
//! generation of its claim, and the requests inside. Written by the member's rebalance callbacks, the
//! takeover driver and the next owner's handover call; read on every request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const IDLE: u8 = 0;
const ASSIGNED: u8 = 1;
const SERVING: u8 = 2;
/// Assigned, but another pod that the group also gave it to serves it for now.
const YIELDED: u8 = 3;
/// Revoked, still answering until the next owner took it over (its writes are fenced once that claims).
const HANDING_OVER: u8 = 4;

/// Per partition what this pod does with it.
pub struct Slots {
    state: Vec<AtomicU8>,
    generation: Vec<AtomicU64>,
    in_flight: Vec<AtomicU32>,
    /// Per partition handing over, until when it answers at most (for [`Slots::handovers_due`]); `None`:
    /// until its next owner says it has it.
    handing_over_until: std::sync::Mutex<BTreeMap<u16, Option<Instant>>>,
}

/// One request inside a partition; leaving it (drop) lets a handover go on.
pub struct InFlight<'a> {
    counter: &'a AtomicU32,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

impl InFlight<'_> {
    /// Counts one request into `counter` (for callers that keep their own counters).
    pub fn count(counter: &AtomicU32) -> InFlight<'_> {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight { counter }
    }
}

impl Slots {
    /// `partitions` slots, all idle.
    pub fn new(partitions: u16) -> Self {
        let n = usize::from(partitions);
        Self {
            state: (0..n).map(|_| AtomicU8::new(IDLE)).collect(),
            generation: (0..n).map(|_| AtomicU64::new(0)).collect(),
            in_flight: (0..n).map(|_| AtomicU32::new(0)).collect(),
            handing_over_until: std::sync::Mutex::default(),
        }
    }

    /// The partitions handed over, each with the moment it ends at the latest.
    fn until(&self) -> std::sync::MutexGuard<'_, BTreeMap<u16, Option<Instant>>> {
        self.handing_over_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, partition: u16) -> Option<&AtomicU8> {
        self.state.get(usize::from(partition))
    }

    /// The group gave this pod `partitions`: to be taken over.
    pub fn assign(&self, partitions: &[u16]) {
        let mut until = self.until();
        for p in partitions {
            until.remove(p);
            if let Some(s) = self.slot(*p) {
                s.store(ASSIGNED, Ordering::SeqCst);
            }
        }
    }

    /// Whether `partition` is assigned here (being taken over, or served).
    pub fn is_assigned(&self, partition: u16) -> bool {
        self.slot(partition).is_some_and(|s| {
            let state = s.load(Ordering::SeqCst);
            state != IDLE && state != HANDING_OVER
        })
    }

    /// Whether this pod takes `partition` over or serves it: assigned here and not given way to another pod.
    pub fn is_taken(&self, partition: u16) -> bool {
        self.is_assigned(partition)
            && self
                .slot(partition)
                .is_some_and(|s| s.load(Ordering::SeqCst) != YIELDED)
    }

    /// Whether this pod answers for `partition`: it serves it, or hands it over.
    pub fn serving(&self, partition: u16) -> bool {
        self.slot(partition).is_some_and(|s| {
            let state = s.load(Ordering::SeqCst);
            state == SERVING || state == HANDING_OVER
        })
    }

    /// Starts serving `partition`, taken over under the claim of `generation` — unless it was revoked
    /// meanwhile. Whether it did.
    pub fn serve(&self, partition: u16, generation: u64) -> bool {
        let Some(slot) = self.slot(partition) else {
            return false;
        };
        self.generation[usize::from(partition)].store(generation, Ordering::SeqCst);
        slot.compare_exchange(ASSIGNED, SERVING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The generation of this pod's claim on `partition` (0 when it never took it over).
    pub fn generation(&self, partition: u16) -> u64 {
        self.generation
            .get(usize::from(partition))
            .map_or(0, |g| g.load(Ordering::SeqCst))
    }

    /// Stops serving `partition` while it stays assigned (to be taken over again). Whether it was served.
    pub fn unserve(&self, partition: u16) -> bool {
        self.swap(partition, SERVING, ASSIGNED)
    }

    /// Stops serving `partition` while it stays assigned: another pod serves it for now. Whether it was
    /// served.
    pub fn give_way(&self, partition: u16) -> bool {
        self.swap(partition, SERVING, YIELDED)
    }

    /// Gives way with those of `partitions` served here (another pod claimed them after this one: the group
    /// gave them to two pods for a moment) and waits (blocking, up to `within`) until no request is inside
    /// them; the partitions it gave way with.
    pub fn give_way_to_claim(&self, partitions: &[u16], within: Duration) -> Vec<u16> {
        let yielded: Vec<u16> = partitions
            .iter()
            .copied()
            .filter(|p| self.give_way(*p))
            .collect();
        self.drain(&yielded, within);
        yielded
    }

    /// Gives way with a partition whose takeover found another pod's newer claim. Whether it was assigned.
    pub fn give_way_assigned(&self, partition: u16) -> bool {
        self.swap(partition, ASSIGNED, YIELDED)
    }

    /// Makes a partition given way ready to be taken over again. Whether it had given way.
    pub fn resume(&self, partition: u16) -> bool {
        self.swap(partition, YIELDED, ASSIGNED)
    }

    /// The partitions given way to another pod.
    pub fn given_way(&self) -> Vec<u16> {
        (0..self.state.len())
            .filter(|i| self.state[*i].load(Ordering::SeqCst) == YIELDED)
            .map(|i| i as u16)
            .collect()
    }

    fn swap(&self, partition: u16, from: u8, to: u8) -> bool {
        self.slot(partition).is_some_and(|s| {
            s.compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
    }

    /// Enters `partition` for one request; `None` unless it is served here.
    pub fn enter(&self, partition: u16) -> Option<InFlight<'_>> {
        let counter = self.in_flight.get(usize::from(partition))?;
        let inside = InFlight::count(counter);
        self.serving(partition).then_some(inside)
    }

    /// The group took `partitions` away: those served are handed over (still answered until their next
    /// owner has them, `answer_for` at most — `None`: no limit), the others idle. The partitions handed
    /// over.
    pub fn revoke(&self, partitions: &[u16], answer_for: Option<Duration>) -> Vec<u16> {
        let mut until = self.until();
        let mut handed_over = Vec::new();
        for p in partitions {
            if let Some(s) = self.slot(*p) {
                if self.swap(*p, SERVING, HANDING_OVER) {
                    until.insert(*p, answer_for.map(|d| Instant::now() + d));
                    handed_over.push(*p);
                } else {
                    s.store(IDLE, Ordering::SeqCst);
                }
            }
        }
        handed_over
    }

    /// Ends the handover of those of `partitions` this pod hands over (their next owner has them, or
    /// time is up) and waits (blocking, up to `within`) until no request is inside them; the partitions
    /// whose handover it ended.
    pub fn hand_over(&self, partitions: &[u16], within: Duration) -> Vec<u16> {
        let ended: Vec<u16> = partitions
            .iter()
            .copied()
            .filter(|p| self.swap(*p, HANDING_OVER, IDLE))
            .collect();
        {
            let mut until = self.until();
            for p in partitions {
                until.remove(p);
            }
        }
        self.drain(&ended, within);
        ended
    }

    /// The partitions being handed over.
    pub fn handovers(&self) -> Vec<u16> {
        self.until().keys().copied().collect()
    }

    /// The partitions whose handover is past the time it may last.
    pub fn handovers_due(&self) -> Vec<u16> {
        let now = Instant::now();
        self.until()
            .iter()
            .filter(|(_, until)| until.is_some_and(|u| u <= now))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Whether any partition is being handed over.
    pub fn handing_over(&self) -> bool {
        !self.until().is_empty()
    }

    /// Waits (blocking, up to `within`) until no request is inside `partitions`. Whether they drained.
    fn drain(&self, partitions: &[u16], within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let busy = partitions.iter().any(|p| {
                self.in_flight
                    .get(usize::from(*p))
                    .is_some_and(|c| c.load(Ordering::SeqCst) > 0)
            });
            if !busy {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The partitions served here (handovers included), each with the generation of its claim.
    pub fn served(&self) -> BTreeMap<u16, u64> {
        (0..self.state.len())
            .filter(|i| self.serving(*i as u16))
            .map(|i| (i as u16, self.generation[i].load(Ordering::SeqCst)))
            .collect()
    }

    /// How many partitions are assigned here and how many of them are served.
    pub fn counts(&self) -> (usize, usize) {
        let states: Vec<u8> = self
            .state
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .collect();
        (
            states
                .iter()
                .filter(|s| **s != IDLE && **s != HANDING_OVER)
                .count(),
            states.iter().filter(|s| **s == SERVING).count(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_served_only_between_its_takeover_and_its_revocation() {
        let slots = Slots::new(4);
        assert!(slots.enter(1).is_none(), "idle: not served");
        slots.assign(&[1, 2]);
        assert!(slots.enter(1).is_none(), "assigned, not yet taken over");
        assert!(slots.serve(1, 7));
        assert!(slots.enter(1).is_some());
        assert_eq!(slots.served(), [(1, 7)].into_iter().collect());
        // revoked while its takeover ran: the takeover's end does not serve it
        assert!(
            slots.revoke(&[2], Some(Duration::from_secs(1))).is_empty(),
            "nothing to hand over"
        );
        assert!(!slots.serve(2, 8));
        assert!(slots.enter(2).is_none());
        assert_eq!(slots.counts(), (1, 1));
    }

    #[test]
    fn a_handover_is_due_once_the_time_its_revocation_gave_it_is_up() {
        let slots = Slots::new(3);
        slots.assign(&[0, 1, 2]);
        slots.serve(0, 1);
        slots.serve(1, 1);
        slots.serve(2, 1);
        // a planned move, an assignment lost with the coordinator out of reach, and the same for a pod
        // that was alone in the group
        assert_eq!(slots.revoke(&[0], Some(Duration::ZERO)), vec![0]);
        assert_eq!(slots.revoke(&[1], Some(Duration::from_secs(60))), vec![1]);
        assert_eq!(slots.revoke(&[2], None), vec![2]);
        assert_eq!(slots.handovers_due(), vec![0]);
        assert_eq!(slots.handovers(), vec![0, 1, 2]);
        assert!(slots.enter(1).is_some(), "still answered within its time");
        assert!(slots.enter(2).is_some(), "still answered, without a limit");
    }

    #[test]
    fn a_handover_is_answered_until_it_ends_then_waits_for_the_requests_inside_and_no_longer() {
        let slots = Slots::new(2);
        slots.assign(&[0, 1]);
        slots.serve(0, 1);
        slots.serve(1, 2);
        let guard = slots.enter(0).expect("served");
        assert_eq!(
            slots.revoke(&[0, 1], Some(Duration::from_secs(60))),
            vec![0, 1]
        );
        assert!(slots.enter(0).is_some(), "handed over: still answered");
        assert!(slots.handing_over());
        assert!(slots.handovers_due().is_empty(), "within its time");
        let started = Instant::now();
        assert_eq!(slots.hand_over(&[0], Duration::from_millis(50)), vec![0]);
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "a request still inside: waited"
        );
        assert!(slots.enter(0).is_none(), "no new request gets in");
        drop(guard);
        let started = Instant::now();
        assert_eq!(slots.hand_over(&[1], Duration::from_secs(5)), vec![1]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "nothing inside: no wait"
        );
        assert!(!slots.handing_over());
        assert!(
            slots.hand_over(&[1], Duration::ZERO).is_empty(),
            "ended once"
        );
    }
}
