//! A warm standby: a store that follows another pod's partition — reads it, writes nothing there — and
//! leaves its copy's housekeeping to the owner.

use std::sync::Arc;

use super::{journaled, locked, stored_user};
use crate::partition::partition_of_id;
use crate::store::TreeId;
use crate::testing::{MemoryJournal, Weather, contents};

/// The entries of `tree` in a store's contents.
fn entries_of(store: &crate::store::Store, tree: TreeId) -> Vec<(Vec<u8>, Vec<u8>)> {
    contents(store)
        .into_iter()
        .filter(|((tag, _), _)| *tag == tree as u8)
        .map(|((_, key), value)| (key, value))
        .collect()
}

#[tokio::test]
async fn a_standby_follows_a_partition_without_writing_to_it_and_its_takeover_starts_at_the_end() {
    let (journal, _owner_dir, owner, user) = stored_user("EMP1").await;
    let home = partition_of_id(user.id).0;
    let dir = tempfile::tempdir().unwrap();
    let standby = journaled(dir.path(), &journal);
    let durable = standby.durable();
    assert_eq!(
        durable.follow(home).await.unwrap(),
        None,
        "not released here: this store's to write, nothing to follow"
    );
    durable.release(&[home]).unwrap();
    let written = journal.messages(home).len();
    assert_eq!(durable.follow(home).await.unwrap(), Some(0));
    assert!(standby.users().get_by_uuid(&user.uuid).unwrap().is_some());
    assert_eq!(
        journal.messages(home).len(),
        written,
        "no claim, no record: a standby writes nothing"
    );

    owner
        .logins()
        .save_lockout(&user.uuid, &locked())
        .await
        .unwrap();
    assert_eq!(durable.follow(home).await.unwrap(), Some(0));
    assert_eq!(
        standby.logins().lockout(&user.uuid).unwrap().locked_until,
        Some(99)
    );
    let end = journal.messages(home).len() as i64 - 1;
    assert_eq!(
        standby.applied_offset(home).unwrap(),
        Some(end),
        "the copy at the journal's end: a takeover reads from there"
    );

    // housekeeping leaves the copy's keys to their owner
    let lockouts = entries_of(&standby, TreeId::Lockouts);
    assert!(!lockouts.is_empty());
    let (key, value) = lockouts[0].clone();
    assert!(durable.held_for_another(TreeId::Lockouts, &key).unwrap());
    assert!(
        !owner
            .durable()
            .held_for_another(TreeId::Lockouts, &key)
            .unwrap()
    );
    let reads = vec![(TreeId::Lockouts, key.clone(), value)];
    assert_eq!(durable.remove_unchanged(reads).await.unwrap(), 0);
    assert_eq!(journal.messages(home).len() as i64 - 1, end);
    assert_eq!(entries_of(&standby, TreeId::Lockouts), lockouts);

    // given to the standby: its takeover claims, and it holds what the owner held
    durable.assign(&[home]);
    standby.catch_up(&[home], |_, _| {}).await.unwrap();
    assert_eq!(
        journal.messages(home).len() as i64 - 1,
        end + 1,
        "one record more: the claim"
    );
    assert_eq!(
        durable.follow(home).await.unwrap(),
        None,
        "served: not followed"
    );
    assert!(!durable.held_for_another(TreeId::Lockouts, &key).unwrap());
    assert_eq!(contents_of_users(&standby), contents_of_users(&owner));
}

#[tokio::test]
async fn a_pod_whose_last_append_went_unanswered_finds_it_in_its_copy_once_it_follows() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), &journal);
    let user = crate::testing::stored_employee(&store, "EMP1").await;
    let home = partition_of_id(user.id).0;
    // the append lands but its acknowledgement is lost: refused and undone here
    journal.set_weather(Weather::AcksLost);
    let unanswered = store.logins().save_lockout(&user.uuid, &locked()).await;
    assert!(unanswered.is_err(), "{unanswered:?}");
    assert_eq!(
        store.logins().lockout(&user.uuid).unwrap().locked_until,
        None
    );
    journal.set_weather(Weather::Fair);
    // the partition went to another pod meanwhile: this one follows it, and reads what landed
    let written = journal.messages(home).len();
    store.durable().release(&[home]).unwrap();
    assert_eq!(store.durable().follow(home).await.unwrap(), Some(0));
    assert_eq!(
        store.logins().lockout(&user.uuid).unwrap().locked_until,
        Some(99),
        "what the journal holds is in a standby's copy"
    );
    assert_eq!(journal.messages(home).len(), written);
}

fn contents_of_users(store: &crate::store::Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    entries_of(store, TreeId::Users)
}

/// An SMS record as the OTP store saves it.
fn sms(mobile: &str) -> crate::store::OutboxRecord {
    crate::testing::sms_record(&format!("m-{mobile}"), mobile, "Your OTP is 123456")
}

#[tokio::test]
async fn two_pods_queueing_an_sms_each_never_share_an_outbox_key() {
    let journal = Arc::new(MemoryJournal::default());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (
        journaled(dir_a.path(), &journal),
        journaled(dir_b.path(), &journal),
    );
    // two numbers of two partitions, each queued by its owner: both stores mint their first sequence
    let key_a = a.otp().session_key("pb", "9876500001");
    let key_b = (2..)
        .map(|i| b.otp().session_key("pb", &format!("98765000{i:02}")))
        .find(|k| k.home != key_a.home)
        .unwrap();
    let queued_a = a
        .otp()
        .save(&key_a, &Default::default(), None, &[sms("9876500001")])
        .await
        .unwrap();
    let queued_b = b
        .otp()
        .save(&key_b, &Default::default(), None, &[sms("b")])
        .await
        .unwrap();
    assert_ne!(queued_a, queued_b, "one sequence each, and not one key");
    // b follows a's partition: a's record lands beside its own, not over it
    b.durable().release(&[key_a.home]).unwrap();
    b.durable().follow(key_a.home).await.unwrap();
    assert_eq!(entries_of(&b, TreeId::Outbox).len(), 2);
    let delivers: Vec<String> = b
        .outbox()
        .batch(10)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| r.message_id)
        .collect();
    assert_eq!(delivers, vec!["m-b"], "a's record is a's to deliver");
}
