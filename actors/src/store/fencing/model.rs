//! A model of one journal partition under changing owners and zombies: random schedules of takeovers,
//! owner writes, zombie writes and the owner's periodic check, then log compaction; the fencing rules of
//! [`super`] must keep every reader's replay equal to the owner's state, and every acknowledged write.

use std::collections::BTreeMap;

use super::{Fence, Landing, claim_key, landing};

/// A record of the partition: a claim, or a write of `key` (a tombstone when `value` is `None`).
#[derive(Debug, Clone)]
struct Record {
    key: Vec<u8>,
    generation: u64,
    claim: bool,
    value: Option<u32>,
}

type State = BTreeMap<Vec<u8>, u32>;

/// What every reader makes of `log` (offset, record), by the replay rule.
fn replay<'a>(log: impl IntoIterator<Item = &'a (i64, Record)>) -> State {
    replay_hidden(log).0
}

/// [`replay`], and the keys whose latest record it skipped: a skipped record that is the latest of its key
/// hides the value before it from compaction, so an owner must write the key again.
fn replay_hidden<'a>(log: impl IntoIterator<Item = &'a (i64, Record)>) -> (State, Vec<Vec<u8>>) {
    let mut fence = Fence::default();
    let mut state = State::new();
    let mut hidden = std::collections::BTreeSet::new();
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

/// Keeps the last record of every key, in offset order (what Kafka's compaction converges to).
fn compact(log: &[(i64, Record)]) -> Vec<(i64, Record)> {
    let last: BTreeMap<&[u8], i64> = log.iter().map(|(o, r)| (r.key.as_slice(), *o)).collect();
    log.iter()
        .filter(|(o, r)| last[r.key.as_slice()] == *o)
        .cloned()
        .collect()
}

/// A pod as it sees itself: the generation of its claim, the offset its next record must take, its state.
#[derive(Debug, Clone)]
struct Pod {
    generation: u64,
    expected: i64,
    state: State,
    fenced: bool,
}

/// The variations the negative tests switch off.
#[derive(Clone, Copy)]
struct Rules {
    repair: bool,
    claim_per_generation: bool,
}

const RULES: Rules = Rules {
    repair: true,
    claim_per_generation: true,
};

struct World {
    rules: Rules,
    log: Vec<(i64, Record)>,
    pods: Vec<Option<Pod>>,
    owner: usize,
    newest: u64,
    /// Acknowledged writes: offset, key, value.
    acked: Vec<(i64, Vec<u8>, Option<u32>)>,
    next_value: u32,
}

impl World {
    fn new(rules: Rules, pods: usize) -> Self {
        let mut world = Self {
            rules,
            log: Vec::new(),
            pods: vec![None; pods],
            owner: 0,
            newest: 0,
            acked: Vec::new(),
            next_value: 1,
        };
        world.take_over(0);
        world
    }

    fn append(&mut self, record: Record) -> i64 {
        let offset = self.log.len() as i64;
        self.log.push((offset, record));
        offset
    }

    /// Pod `p` is given the partition: a claim, a replay, then the repair of what landed after the claim.
    fn take_over(&mut self, p: usize) {
        self.newest += 1;
        let generation = self.newest;
        let key = match self.rules.claim_per_generation {
            true => claim_key(generation),
            false => claim_key(0),
        };
        let at = self.append(Record {
            key,
            generation,
            claim: true,
            value: None,
        });
        self.owner = p;
        let (state, hidden) = replay_hidden(&self.log);
        self.pods[p] = Some(Pod {
            generation,
            expected: at + 1,
            state,
            fenced: false,
        });
        // what an earlier owner left unrepaired (it lost the partition before its check ran)
        self.repair(p, hidden);
        self.check(p);
    }

    /// Pod `p` writes `key` (owner or zombie alike: a zombie does not know it is one).
    fn write(&mut self, p: usize, key: Vec<u8>, value: Option<u32>) {
        let Some(pod) = self.pods[p].clone().filter(|pod| !pod.fenced) else {
            return;
        };
        let at = self.append(Record {
            key: key.clone(),
            generation: pod.generation,
            claim: false,
            value,
        });
        let skipped = match landing(pod.expected, at) {
            Landing::Contiguous => Vec::new(),
            Landing::After { from, to } => match self.read_gap(p, from, to) {
                Some(skipped) => skipped,
                None => return, // fenced: never acknowledged
            },
            Landing::Behind => unreachable!("the model's log loses nothing"),
        };
        self.acked.push((at, key.clone(), value));
        let pod = self.pods[p].as_mut().expect("present");
        pod.expected = at + 1;
        match value {
            Some(v) => pod.state.insert(key, v),
            None => pod.state.remove(&key),
        };
        // after its own write: a repair re-writes the value as it stands now
        self.repair(p, skipped);
        self.check(p);
    }

    /// The owner's periodic check: the partition's end against the offset it expects.
    fn check(&mut self, p: usize) {
        let Some(pod) = self.pods[p].clone().filter(|pod| !pod.fenced) else {
            return;
        };
        let end = self.log.len() as i64;
        if end > pod.expected
            && let Some(skipped) = self.read_gap(p, pod.expected, end)
        {
            self.pods[p].as_mut().expect("present").expected = end;
            self.repair(p, skipped);
        }
    }

    /// Pod `p` reads what others wrote from `from` to before `to`: `None` when a newer claim fenced it,
    /// else the keys the records it skips wrote.
    fn read_gap(&mut self, p: usize, from: i64, to: i64) -> Option<Vec<Vec<u8>>> {
        let generation = self.pods[p].as_ref().expect("present").generation;
        let gap = &self.log[from as usize..to as usize];
        if gap
            .iter()
            .any(|(_, r)| r.claim && r.generation > generation)
        {
            self.pods[p].as_mut().expect("present").fenced = true;
            return None;
        }
        Some(
            gap.iter()
                .filter(|(_, r)| !r.claim && r.generation < generation)
                .map(|(_, r)| r.key.clone())
                .collect(),
        )
    }

    /// Pod `p` re-appends its value (or a tombstone) of every key in `skipped`, when the rules repair.
    fn repair(&mut self, p: usize, skipped: Vec<Vec<u8>>) {
        if !self.rules.repair || skipped.is_empty() {
            return;
        }
        let pod = self.pods[p].clone().expect("present");
        for key in skipped {
            let value = pod.state.get(&key).copied();
            let at = self.append(Record {
                key: key.clone(),
                generation: pod.generation,
                claim: false,
                value,
            });
            self.acked.push((at, key, value));
        }
        self.pods[p].as_mut().expect("present").expected = self.log.len() as i64;
    }

    /// One random step.
    fn step(&mut self, rng: &mut XorShift) {
        let pods = self.pods.len();
        let key = vec![b'k', (rng.next() % 5) as u8];
        let value = match rng.next() % 6 {
            0 => None,
            _ => {
                self.next_value += 1;
                Some(self.next_value)
            }
        };
        match rng.next() % 20 {
            0 | 1 => {
                let p = (self.owner + 1 + (rng.next() as usize % (pods - 1))) % pods;
                self.take_over(p);
            }
            2..=11 => self.write(self.owner, key, value),
            12..=16 => {
                let p = rng.next() as usize % pods;
                self.write(p, key, value);
            }
            _ => self.check(self.owner),
        }
    }

    /// Whether every rule's promise holds; what broke otherwise.
    fn verify(&mut self) -> Result<(), String> {
        self.check(self.owner);
        let owner = self.pods[self.owner].clone().expect("the owner");
        if replay(&self.log) != owner.state {
            return Err("a replay of the full log differs from the owner's state".into());
        }
        let compacted = replay(&compact(&self.log));
        if compacted != owner.state {
            // values are unique per write: one only a fenced record wrote means that record counted
            let fenced = self.fenced_values();
            if compacted.values().any(|v| fenced.contains(v)) {
                return Err("a fenced write counts in a replay of the compacted log".into());
            }
            return Err("compaction lost a value: the compacted log's replay differs".into());
        }
        let mut last_acked: BTreeMap<&[u8], Option<u32>> = BTreeMap::new();
        for (_, key, value) in &self.acked {
            last_acked.insert(key, *value);
        }
        for (key, value) in last_acked {
            if owner.state.get(key).copied() != value {
                return Err(format!("the last acknowledged write of {key:?} was lost"));
            }
        }
        let mut fence = Fence::default();
        for (offset, r) in &self.log {
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

impl World {
    /// The values written by records the replay rule skips.
    fn fenced_values(&self) -> Vec<u32> {
        let mut fence = Fence::default();
        let mut values = Vec::new();
        for (_, r) in &self.log {
            if r.claim {
                fence.claim(r.generation);
            } else if !fence.admits(r.generation) {
                values.extend(r.value);
            }
        }
        values
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
    let broken = play(RULES, 2_000, 200);
    assert!(broken.is_empty(), "{:?}", &broken[..broken.len().min(3)]);
}

#[test]
fn without_the_repair_compaction_loses_values_a_zombie_overwrote_but_never_lets_one_count() {
    let rules = Rules {
        repair: false,
        ..RULES
    };
    let broken = play(rules, 500, 200);
    assert!(
        broken.iter().any(|(_, e)| e.contains("lost a value")),
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
fn with_one_key_for_every_claim_compaction_lets_a_fenced_write_count() {
    let rules = Rules {
        repair: false,
        claim_per_generation: false,
    };
    let broken = play(rules, 500, 200);
    assert!(
        broken
            .iter()
            .any(|(_, e)| e.contains("fenced write counts")),
        "claims must outlive compaction: {broken:?}"
    );
}

#[test]
fn a_claim_key_names_its_generation_and_no_other_key_does() {
    assert_eq!(super::claim_generation(&claim_key(7)), Some(7));
    assert_ne!(claim_key(7), claim_key(8));
    assert_eq!(super::claim_generation(b"\0barrier"), None);
    assert_eq!(super::claim_generation(b"\x01user"), None);
}
