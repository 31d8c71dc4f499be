//! A model of one journal partition under changing owners and zombies: random schedules of takeovers,
//! owner writes, zombie writes, the owner's repairs and periodic checks, each a step of its own so that
//! others interleave, with compaction running after every step as far as its lag allows; the fencing rules
//! of [`super`] must keep every reader's replay equal to the owner's state, and every acknowledged write.

use std::collections::{BTreeMap, BTreeSet};

use super::{Fence, Landing, claim_key, landing};

/// A record of the partition: a claim, or a write of `key` (a tombstone when `value` is `None`).
#[derive(Debug, Clone)]
struct Record {
    key: Vec<u8>,
    generation: u64,
    claim: bool,
    value: Option<u32>,
    /// The step it was written at (compaction's lag counts in steps).
    step: usize,
}

type State = BTreeMap<Vec<u8>, u32>;
type Log = Vec<(i64, Record)>;

/// What every reader makes of `log`, by the replay rule; and the keys whose latest record it skipped (such
/// a record hides the value before it from compaction: an owner must write the key again).
fn replay(log: &Log) -> (State, Vec<Vec<u8>>) {
    let mut fence = Fence::default();
    let mut state = State::new();
    let mut hidden = BTreeSet::new();
    for (_, r) in log {
        if r.claim {
            fence.claim(r.generation);
        } else if fence.admits(r.generation) {
            hidden.remove(&r.key);
            match r.value {
                Some(v) => state.insert(r.key.clone(), v),
                None => state.remove(&r.key),
            };
        } else {
            hidden.insert(r.key.clone());
        }
    }
    (state, hidden.into_iter().collect())
}

/// Compaction at step `now` with a lag of `lag` steps: for every key, the records before its last one
/// written at least `lag` steps ago are removed (Kafka's cleaner never touches younger records).
fn compact(log: &mut Log, now: usize, lag: usize) {
    let mut last_old: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for (offset, r) in log.iter() {
        if r.step + lag <= now {
            last_old.insert(r.key.clone(), *offset);
        }
    }
    log.retain(|(offset, r)| last_old.get(&r.key).is_none_or(|last| offset >= last));
}

/// A pod as it sees itself.
#[derive(Debug, Clone)]
struct Pod {
    generation: u64,
    /// The offset its next record must take.
    expected: i64,
    state: State,
    fenced: bool,
    /// Keys to write again, each with the step by which it must be.
    repairs: Vec<(Vec<u8>, usize)>,
}

/// The rules and timings a schedule runs with (the negative tests switch rules off).
#[derive(Clone, Copy)]
struct Rules {
    repair: bool,
    claim_per_generation: bool,
    /// Compaction's lag (`min.compaction.lag.ms`), in steps.
    lag: usize,
    /// The owner compares the partition's end with its expected offset at least every this many steps.
    check_every: usize,
    /// A repair found is written within this many steps.
    repair_within: usize,
    /// How many keys the writes spread over.
    keys: u64,
}

const RULES: Rules = Rules {
    repair: true,
    claim_per_generation: true,
    lag: 12,
    check_every: 5,
    repair_within: 5,
    keys: 5,
};

struct World {
    rules: Rules,
    /// The partition as compaction leaves it.
    log: Log,
    /// Everything ever written (to judge acknowledgements by).
    history: Log,
    next_offset: i64,
    pods: Vec<Option<Pod>>,
    owner: usize,
    newest: u64,
    now: usize,
    last_check: usize,
    /// Acknowledged writes: offset, key, value.
    acked: Vec<(i64, Vec<u8>, Option<u32>)>,
    next_value: u32,
}

impl World {
    fn new(rules: Rules, pods: usize) -> Self {
        let mut world = Self {
            rules,
            log: Vec::new(),
            history: Vec::new(),
            next_offset: 0,
            pods: vec![None; pods],
            owner: 0,
            newest: 0,
            now: 0,
            last_check: 0,
            acked: Vec::new(),
            next_value: 1,
        };
        world.take_over(0);
        world
    }

    fn pod(&mut self, p: usize) -> &mut Pod {
        self.pods[p].as_mut().expect("a pod that claimed")
    }

    fn append(&mut self, key: Vec<u8>, generation: u64, claim: bool, value: Option<u32>) -> i64 {
        let offset = self.next_offset;
        self.next_offset += 1;
        let record = Record {
            key,
            generation,
            claim,
            value,
            step: self.now,
        };
        self.log.push((offset, record.clone()));
        self.history.push((offset, record));
        offset
    }

    /// Pod `p` is given the partition: a claim, a replay, the keys to repair, a check.
    fn take_over(&mut self, p: usize) {
        self.newest += 1;
        let generation = self.newest;
        let key = match self.rules.claim_per_generation {
            true => claim_key(generation),
            false => claim_key(0),
        };
        let at = self.append(key, generation, true, None);
        self.owner = p;
        let (state, hidden) = replay(&self.log);
        let due = self.now + self.rules.repair_within;
        self.pods[p] = Some(Pod {
            generation,
            expected: at + 1,
            state,
            fenced: false,
            repairs: hidden.into_iter().map(|k| (k, due)).collect(),
        });
        self.check(p);
    }

    /// Pod `p` appends a write of `key` and judges where it landed: whether it may acknowledge it.
    fn append_checked(&mut self, p: usize, key: Vec<u8>, value: Option<u32>) -> bool {
        let generation = self.pod(p).generation;
        let expected = self.pod(p).expected;
        let at = self.append(key, generation, false, value);
        let fine = match landing(expected, at) {
            Landing::Contiguous => true,
            Landing::After { from, to } => self.read_gap(p, from, to),
            Landing::Behind => unreachable!("the model's log loses nothing"),
        };
        if fine {
            self.pod(p).expected = at + 1;
        }
        fine
    }

    /// Pod `p` writes `key` (owner or zombie alike: a zombie does not know it is one) for a client, or —
    /// not `client` — as a repair, which acknowledges nothing to anyone.
    fn write(&mut self, p: usize, key: Vec<u8>, value: Option<u32>, client: bool) {
        if self.pods[p].as_ref().is_none_or(|pod| pod.fenced) {
            return;
        }
        let at = self.next_offset;
        if !self.append_checked(p, key.clone(), value) {
            return; // fenced: never acknowledged
        }
        if client {
            self.acked.push((at, key.clone(), value));
        }
        let pod = self.pod(p);
        match value {
            Some(v) => pod.state.insert(key.clone(), v),
            None => pod.state.remove(&key),
        };
        // a repair due for this key is done by this write
        pod.repairs.retain(|(k, _)| *k != key);
    }

    /// The owner writes the oldest key due for repair again, with its value as it stands now.
    fn repair_one(&mut self, p: usize) {
        let Some(pod) = self.pods[p].as_ref().filter(|pod| !pod.fenced) else {
            return;
        };
        let Some((key, _)) = pod.repairs.first().cloned() else {
            return;
        };
        let value = pod.state.get(&key).copied();
        self.write(p, key, value, false);
    }

    /// The owner's periodic check: the partition's end against the offset it expects.
    fn check(&mut self, p: usize) {
        if self.pods[p].as_ref().is_none_or(|pod| pod.fenced) {
            return;
        }
        self.last_check = self.now;
        let (expected, end) = (self.pod(p).expected, self.next_offset);
        if end > expected && self.read_gap(p, expected, end) {
            self.pod(p).expected = end;
        }
    }

    /// Pod `p` reads what others wrote from `from` to before `to`: false when a record of a newer
    /// generation (a claim, or a write after one) fenced it; else it schedules the keys of the records it
    /// skips for repair.
    fn read_gap(&mut self, p: usize, from: i64, to: i64) -> bool {
        let generation = self.pod(p).generation;
        let gap: Vec<Record> = self
            .log
            .iter()
            .filter(|(o, _)| (from..to).contains(o))
            .map(|(_, r)| r.clone())
            .collect();
        if gap.iter().any(|r| r.generation > generation) {
            self.pod(p).fenced = true;
            return false;
        }
        if self.rules.repair {
            let due = self.now + self.rules.repair_within;
            let skipped = gap
                .into_iter()
                .filter(|r| !r.claim && r.generation < generation);
            let repairs: Vec<(Vec<u8>, usize)> = skipped.map(|r| (r.key, due)).collect();
            self.pod(p).repairs.extend(repairs);
        }
        true
    }

    /// One step: what the owner's timers require, then a random action, then compaction.
    fn step(&mut self, rng: &mut XorShift) {
        self.now += 1;
        let owner = self.owner;
        if self.now >= self.last_check + self.rules.check_every {
            self.check(owner);
        }
        while self.pods[owner].as_ref().is_some_and(|pod| {
            !pod.fenced && pod.repairs.first().is_some_and(|(_, due)| *due <= self.now)
        }) {
            self.repair_one(owner);
        }
        let pods = self.pods.len();
        let key = vec![b'k', (rng.next() % self.rules.keys) as u8];
        self.next_value += 1;
        let value = (!rng.next().is_multiple_of(6)).then_some(self.next_value);
        match rng.next() % 20 {
            0 | 1 => {
                let p = (owner + 1 + (rng.next() as usize % (pods - 1))) % pods;
                self.take_over(p);
            }
            2..=9 => self.write(owner, key, value, true),
            10..=14 => self.write(rng.next() as usize % pods, key, value, true),
            15..=17 => self.repair_one(owner),
            _ => self.check(owner),
        }
        compact(&mut self.log, self.now, self.rules.lag);
    }

    /// The values written by records the replay rule skips.
    fn fenced_values(&self) -> Vec<u32> {
        let mut fence = Fence::default();
        let mut values = Vec::new();
        for (_, r) in &self.history {
            if r.claim {
                fence.claim(r.generation);
            } else if !fence.admits(r.generation) {
                values.extend(r.value);
            }
        }
        values
    }

    /// Whether every rule's promise holds once the owner is done with its checks and repairs; what broke.
    fn verify(&mut self) -> Result<(), String> {
        let owner = self.owner;
        self.check(owner);
        while self.pods[owner]
            .as_ref()
            .is_some_and(|pod| !pod.fenced && !pod.repairs.is_empty())
        {
            self.repair_one(owner);
        }
        let state = self.pods[owner].clone().expect("the owner").state;
        // what compaction did along the way, then all it may still do
        let mut compacted = self.log.clone();
        compact(&mut compacted, usize::MAX / 2, 0);
        let replays = [
            (replay(&self.history).0, "the whole history"),
            (replay(&self.log).0, "the log as compacted so far"),
            (replay(&compacted).0, "the fully compacted log"),
        ];
        // values are unique per write: one that only a skipped record wrote means that record counted
        let fenced = self.fenced_values();
        for (replayed, what) in &replays {
            if replayed.values().any(|v| fenced.contains(v)) {
                return Err(format!("a fenced write counts in a replay of {what}"));
            }
        }
        for (replayed, what) in &replays {
            if *replayed != state {
                return Err(format!(
                    "a value was lost: a replay of {what} differs from the owner's"
                ));
            }
        }
        let mut last_acked: BTreeMap<&[u8], Option<u32>> = BTreeMap::new();
        for (_, key, value) in &self.acked {
            last_acked.insert(key, *value);
        }
        for (key, value) in last_acked {
            if state.get(key).copied() != value {
                return Err(format!("the last acknowledged write of {key:?} was lost"));
            }
        }
        let mut fence = Fence::default();
        for (offset, r) in &self.history {
            if r.claim {
                fence.claim(r.generation);
            } else if !fence.admits(r.generation) && self.acked.iter().any(|(o, ..)| o == offset) {
                return Err(format!(
                    "a write at {offset} was acknowledged but is fenced"
                ));
            }
        }
        Ok(())
    }
}

/// A small deterministic generator: the schedules are reproducible by seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Plays `schedules` random schedules of `steps` steps on three pods; the seeds whose schedule broke a
/// promise, with what broke.
fn play(rules: Rules, schedules: u64, steps: usize) -> Vec<(u64, String)> {
    let mut broken = Vec::new();
    for seed in 1..=schedules {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut world = World::new(rules, 3);
        for _ in 0..steps {
            world.step(&mut rng);
        }
        if let Err(e) = world.verify() {
            broken.push((seed, e));
        }
    }
    broken
}

#[test]
fn replays_of_the_full_and_the_compacted_log_keep_every_acknowledged_write_and_no_fenced_one() {
    let broken = play(RULES, 1_000, 200);
    assert!(broken.is_empty(), "{:?}", &broken[..broken.len().min(3)]);
}

#[test]
fn without_the_repair_compaction_loses_values_a_zombie_overwrote_but_never_lets_one_count() {
    let rules = Rules {
        repair: false,
        ..RULES
    };
    let broken = play(rules, 300, 200);
    assert!(
        broken.iter().any(|(_, e)| e.contains("lost")),
        "the repair is what keeps compaction from losing values: {broken:?}"
    );
    assert!(
        !broken
            .iter()
            .any(|(_, e)| e.contains("fenced write counts")),
        "a claim per generation holds the fence alone: {broken:?}"
    );
}

#[test]
fn a_compaction_lag_shorter_than_the_check_and_the_repair_loses_values() {
    let rules = Rules { lag: 2, ..RULES };
    let broken = play(rules, 300, 200);
    assert!(
        broken.iter().any(|(_, e)| e.contains("lost")),
        "min.compaction.lag.ms must exceed the check's period and the repair's delay: {broken:?}"
    );
}

#[test]
fn with_one_key_for_every_claim_compaction_lets_a_fenced_write_count() {
    let rules = Rules {
        repair: false,
        claim_per_generation: false,
        // enough keys that a zombie's record often stays the latest of its key
        keys: 200,
        ..RULES
    };
    let broken = play(rules, 1_000, 200);
    assert!(
        broken
            .iter()
            .any(|(_, e)| e.contains("fenced write counts")),
        "claims must outlive compaction: {broken:?}"
    );
}

#[test]
fn claim_keys_are_distinct_and_no_other_key_is_one() {
    assert!(super::is_claim(&claim_key(7)));
    assert_ne!(claim_key(7), claim_key(8));
    assert!(!super::is_claim(b"\0barrier"));
    assert!(!super::is_claim(b"\x01user"));
    assert_eq!(super::generation_of_claim(0), 1);
    assert!(super::generation_of_claim(9) > super::generation_of_claim(8));
}
