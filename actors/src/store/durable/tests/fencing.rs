//! The fencing rule as the journaled store applies it ([`crate::store::fencing`]): two stores over one
//! journal play the pod that lost a partition while cut off (the zombie) and the pod it was given to.

use std::sync::Arc;

use super::{journaled, locked, restored, stored_user};
use crate::domain::lockout::LockoutState;
use crate::partition::partition_of_id;
use crate::store::fencing::is_claim;
use crate::store::{JournalError, StoreError};
use crate::testing::{MemoryJournal, contents};

fn fenced<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Journal(JournalError::Fenced(_))))
}

/// A store that takes `partition` over from whoever had it.
async fn taking_over(
    journal: &Arc<MemoryJournal>,
    partition: u16,
) -> (tempfile::TempDir, Arc<crate::store::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), journal);
    store.catch_up(&[partition], |_, _| {}).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_pod_that_lost_its_partition_gets_no_write_acknowledged_and_nobody_applies_it() {
    let (journal, _a_dir, zombie, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    let (_b_dir, owner) = taking_over(&journal, home).await;
    assert!(owner.users().get_by_uuid(&user.uuid).unwrap().is_some());
    let before = journal.messages(home).len();

    // the zombie still thinks it serves the partition: its write lands, and is refused
    let write = zombie.logins().save_lockout(&user.uuid, &locked()).await;
    assert!(fenced(write), "a fenced write is not acknowledged");
    assert!(
        journal.messages(home).len() > before,
        "the zombie's records did land in the journal (and are skipped)"
    );
    assert_eq!(
        zombie.logins().lockout(&user.uuid).unwrap(),
        LockoutState::default(),
        "undone where it was made"
    );
    // and it stays fenced: no claim of its own behind the owner's back
    let claims = |j: &MemoryJournal| j.messages(home).iter().filter(|m| is_claim(&m.key)).count();
    let claims_before = claims(&journal);
    assert!(fenced(
        zombie.logins().save_lockout(&user.uuid, &locked()).await
    ));
    assert_eq!(claims(&journal), claims_before);

    // nobody applies it: not the owner (writing on), not a store rebuilt from the journal
    crate::testing::stored_employee(&owner, "EMP2").await;
    let (_c_dir, rebuilt) = restored(&journal).await;
    assert_eq!(contents(&rebuilt), contents(&owner));
    assert_eq!(
        rebuilt.logins().lockout(&user.uuid).unwrap().locked_until,
        None
    );
}

/// A zombie locked a user, another store took the partition over, and the zombie's unlock was fenced: the
/// unlock is the lockout key's latest record, hiding the owner's value from compaction.
struct Hidden {
    journal: Arc<MemoryJournal>,
    home: u16,
    user: crate::domain::UserRecord,
    owner: Arc<crate::store::Store>,
    _dirs: [tempfile::TempDir; 2],
}

async fn hidden_by_a_zombie() -> Hidden {
    let (journal, a_dir, zombie, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    zombie
        .logins()
        .save_lockout(&user.uuid, &locked())
        .await
        .unwrap();
    let (b_dir, owner) = taking_over(&journal, home).await;
    assert_eq!(
        owner.durable().check_ends().await.unwrap(),
        0,
        "nothing written since"
    );
    assert!(fenced(
        zombie
            .logins()
            .save_lockout(&user.uuid, &LockoutState::default())
            .await
    ));
    Hidden {
        journal,
        home,
        user,
        owner,
        _dirs: [a_dir, b_dir],
    }
}

/// `journal` compacted and read into a fresh store: it holds the lock, and what `like` holds.
async fn compacted_keeps_the_lock(hidden: &Hidden, like: &crate::store::Store) {
    hidden.journal.compact(hidden.home);
    let (_dir, rebuilt) = restored(&hidden.journal).await;
    assert_eq!(
        rebuilt
            .logins()
            .lockout(&hidden.user.uuid)
            .unwrap()
            .locked_until,
        locked().locked_until
    );
    assert_eq!(contents(&rebuilt), contents(like));
}

#[tokio::test]
async fn keys_a_fenced_write_hid_are_written_again_so_compaction_keeps_their_value() {
    let hidden = hidden_by_a_zombie().await;
    let unrepaired = Arc::new(hidden.journal.copy());
    unrepaired.compact(hidden.home);
    let (_d_dir, lost) = restored(&unrepaired).await;
    assert_eq!(
        lost.logins()
            .lockout(&hidden.user.uuid)
            .unwrap()
            .locked_until,
        None,
        "without the repair, compaction loses the owner's value (the test's control)"
    );

    // the owner's periodic check finds the partition written into and repairs the key
    assert_eq!(hidden.owner.durable().check_ends().await.unwrap(), 1);
    assert_eq!(hidden.owner.durable().check_ends().await.unwrap(), 0);
    compacted_keeps_the_lock(&hidden, &hidden.owner).await;
}

#[tokio::test]
async fn a_takeover_repairs_the_keys_a_previous_owner_left_hidden() {
    let hidden = hidden_by_a_zombie().await;
    // the second owner loses the partition before its check ran: the third finds the hidden key itself
    let (_c_dir, third) = taking_over(&hidden.journal, hidden.home).await;
    compacted_keeps_the_lock(&hidden, &third).await;
}

#[tokio::test]
async fn a_partition_given_back_is_served_again_and_fences_the_pod_it_came_from() {
    let (journal, _a_dir, first, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    let (_b_dir, second) = taking_over(&journal, home).await;
    second
        .logins()
        .save_lockout(&user.uuid, &locked())
        .await
        .unwrap();
    assert!(fenced(
        first
            .logins()
            .save_lockout(&user.uuid, &LockoutState::default())
            .await
    ));

    first.catch_up(&[home], |_, _| {}).await.unwrap();
    assert_eq!(
        first.logins().lockout(&user.uuid).unwrap().locked_until,
        locked().locked_until,
        "the takeover replayed the other pod's write"
    );
    first
        .logins()
        .save_lockout(&user.uuid, &LockoutState::default())
        .await
        .unwrap();
    assert!(fenced(
        second.logins().save_lockout(&user.uuid, &locked()).await
    ));
    let (_c_dir, rebuilt) = restored(&journal).await;
    assert_eq!(contents(&rebuilt), contents(&first));
}

#[tokio::test]
async fn a_takeover_whose_read_ends_short_of_its_claim_reads_on_and_keeps_what_came_before() {
    let (journal, _a_dir, before, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    // the previous owner's last acknowledged write, then the next owner's claim; its first reads end
    // before both (a fetch answering an older end than the broker acknowledged)
    before
        .logins()
        .save_lockout(&user.uuid, &locked())
        .await
        .unwrap();
    journal.end_reads_short(3, 2);
    let (_b_dir, owner) = taking_over(&journal, home).await;
    assert_eq!(
        owner.logins().lockout(&user.uuid).unwrap(),
        locked(),
        "the write acknowledged before the claim is in the new owner's copy"
    );
    // and the new owner's own writes land where it expects them (not fenced by its own claim)
    owner
        .logins()
        .save_lockout(&user.uuid, &LockoutState::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_sms_leaves_only_once_its_write_is_in_the_journal_and_never_for_a_fenced_one() {
    let journal = Arc::new(MemoryJournal::default());
    let a_dir = tempfile::tempdir().unwrap();
    let zombie = super::journaled(a_dir.path(), &journal);
    let key = zombie.otp().session_key("pb", "9876543210");
    let sms = |text: &str| crate::testing::sms_record(text, "9876543210", text);
    let idle = crate::domain::otp::OtpSessionState::default();
    zombie
        .otp()
        .save(&key, &idle, None, &[sms("first")])
        .await
        .unwrap();
    let (_b_dir, _owner) = taking_over(&journal, key.home).await;

    // the zombie's next send is applied where it runs and waits for its append, which the owner's claim
    // fences: its SMS must not leave meanwhile (the notifier reads the outbox then), nor after
    journal.set_weather(crate::testing::Weather::Held);
    let send = {
        let zombie = zombie.clone();
        tokio::spawn(async move { zombie.otp().save(&key, &idle, None, &[sms("second")]).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let batch = {
        let zombie = zombie.clone();
        tokio::spawn(async move { zombie.outbox().batch(10).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    journal.set_weather(crate::testing::Weather::Fair);
    assert!(fenced(send.await.unwrap()), "the zombie's send is refused");
    let batch = batch.await.unwrap().unwrap();
    assert!(
        batch.iter().all(|(_, r)| r.message_id != "second"),
        "no SMS for a code whose write was fenced: {:?}",
        batch.iter().map(|(_, r)| &r.message_id).collect::<Vec<_>>()
    );
}
