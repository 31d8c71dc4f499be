//! The journal's write path on a real broker: a change reaches the journal before the store, a refused
//! change appends nothing, and an append of unknown outcome (the broker frozen with SIGSTOP) refuses the
//! partition's writes within the timeout until the broker answers again, then settles: whatever landed is
//! applied, exactly once, and the store equals the journal read into an empty store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::store::writes::{ConflictableTransactionError, Tx};
use actors::store::{Store, StoreError, TreeId, WriteError};
use actors::testing::{contents, journaled_store};
use digit_user::journal::log::JournalLog;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::broker::Broker;

const TOPIC: &str = "digit-user.journal";

/// A registration: refused when the name is taken.
fn register(
    name: &'static str,
) -> impl Fn(&Tx<'_>) -> Result<(), ConflictableTransactionError<&'static str>> {
    move |tx| {
        let tree = tx.tree(TreeId::Lockouts);
        if tree.get(name)?.is_some() {
            return Err(ConflictableTransactionError::Abort("taken"));
        }
        tree.insert(name, b"{}".to_vec())?;
        Ok(())
    }
}

/// A store under `dir` whose writes last in `log`.
fn store_on(dir: &std::path::Path, log: Arc<JournalLog>) -> Arc<Store> {
    Arc::new(journaled_store(dir, log).unwrap())
}

fn unavailable<A>(result: &Result<(), WriteError<A>>) -> bool {
    matches!(result, Err(WriteError::Store(StoreError::Journal(_))))
}

#[actix_web::test]
async fn writes_reach_the_journal_first_and_an_unknown_outcome_settles_exactly_once() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 4);
    let log = Arc::new(
        JournalLog::new(
            &broker.address(),
            &BTreeMap::new(),
            TOPIC,
            Duration::from_secs(2),
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = store_on(dir.path(), log.clone());
    let writer = store.durable();
    let lockouts = [TreeId::Lockouts];

    writer.commit(1, &lockouts, register("u1")).await.unwrap();
    assert!(matches!(
        writer.commit(1, &lockouts, register("u1")).await,
        Err(WriteError::Refused("taken"))
    ));
    let journal_of = |log: Arc<JournalLog>| async move {
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = store_on(fresh_dir.path(), log);
        fresh.catch_up(&[1], |_, _| {}).await.unwrap();
        contents(&fresh)
    };
    assert_eq!(journal_of(log.clone()).await, contents(&store));

    // the broker freezes in the middle of a registration
    let broker_pid = Pid::from_raw(broker.pid());
    kill(broker_pid, Signal::SIGSTOP).unwrap();
    let started = Instant::now();
    let frozen = writer.commit(1, &lockouts, register("u2")).await;
    assert!(unavailable(&frozen), "{frozen:?}");
    let refused = writer.commit(1, &lockouts, register("u3")).await;
    assert!(unavailable(&refused), "unsettled: {refused:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refused within bounded time: {:?}",
        started.elapsed()
    );
    kill(broker_pid, Signal::SIGCONT).unwrap();

    // writes resume by themselves within moments; the same registration again is refused if the first
    // one landed
    let thawed = Instant::now();
    let again = loop {
        let again = writer.commit(1, &lockouts, register("u2")).await;
        if !unavailable(&again) || thawed.elapsed() > Duration::from_secs(15) {
            break again;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        matches!(again, Ok(()) | Err(WriteError::Refused("taken"))),
        "{again:?}"
    );
    writer.commit(1, &lockouts, register("u3")).await.unwrap();
    let held = contents(&store);
    let u2: Vec<_> = held
        .keys()
        .filter(|(tree, key)| *tree == TreeId::Lockouts as u8 && key.as_slice() == b"u2")
        .collect();
    assert_eq!(u2.len(), 1, "exactly one u2");
    assert_eq!(
        journal_of(log.clone()).await,
        held,
        "the store holds what the journal holds"
    );
}

#[actix_web::test]
async fn a_wiped_store_comes_back_whole_from_the_journal() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 4);
    let log = |timeout| {
        Arc::new(JournalLog::new(&broker.address(), &BTreeMap::new(), TOPIC, timeout).unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let store = store_on(dir.path(), log(Duration::from_secs(5)));
    let writer = store.durable();
    let names = ["a0", "a1", "b0", "b1", "c0", "c1"];
    for (i, name) in names.into_iter().enumerate() {
        writer
            .commit((i / 2) as u16, &[TreeId::Lockouts], register(name))
            .await
            .unwrap();
    }
    // a change across two trees, and a removal
    writer
        .commit(3, &[TreeId::Lockouts, TreeId::Revoked], |tx: &Tx<'_>| {
            tx.tree(TreeId::Lockouts).remove(b"b1")?;
            tx.tree(TreeId::Revoked).insert(b"r", vec![1u8; 8])?;
            Ok::<_, ConflictableTransactionError<()>>(())
        })
        .await
        .unwrap();

    let wiped = tempfile::tempdir().unwrap();
    let fresh = store_on(wiped.path(), log(Duration::from_secs(5)));
    let mut seen = Vec::new();
    fresh
        .catch_up(&[0, 1, 2, 3], |done, total| seen.push((done, total)))
        .await
        .unwrap();
    assert_eq!(seen.last(), Some(&(4, 4)), "progress reported");
    assert_eq!(contents(&fresh), contents(&store), "entry for entry");
    // and it takes writes where the other left off
    assert!(matches!(
        fresh
            .durable()
            .commit(0, &[TreeId::Lockouts], register("a0"))
            .await,
        Err(WriteError::Refused("taken"))
    ));
}
