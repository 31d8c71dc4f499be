//! An imported user — its id and uuid carrying no partition of ours — in another pod's copy replayed from
//! the journal before the directory told that pod of it: its writes still go to the home its journal gave it.

use std::sync::Arc;

use super::{journaled, restored};
use crate::partition::partition_of_id;
use crate::testing::{MemoryJournal, employee};

#[tokio::test]
async fn an_imported_user_replayed_elsewhere_is_written_to_the_home_its_journal_gave_it() {
    let journal = Arc::new(MemoryJournal::default());
    let dir = tempfile::tempdir().unwrap();
    let store = journaled(dir.path(), &journal);
    // egov-user's id and uuid: their bits name no home of ours
    let mut user = employee(&store, "EMP-IMPORTED");
    user.id = 2_300_102;
    user.uuid = "1b9a4d62-4e6f-4a1b-8d72-3c8f9eaf1b22".into();
    let home = store.users().import_home(&user).0;
    store.users().import(&user, 1).await.unwrap();
    assert_eq!(journal.partitions(), vec![home]);

    let (_other_dir, other) = restored(&journal).await;
    assert!(other.homes().is_empty(), "no directory entry reached it");
    let before = journal.messages(home).len();
    other
        .users()
        .update(&user.uuid, None, 2, |u| {
            let mut u = u.clone();
            u.name = Some("Renamed".into());
            Ok::<_, ()>(u)
        })
        .await
        .unwrap();
    assert!(
        journal.messages(home).len() > before,
        "the update is in the user's home"
    );
    assert!(
        journal.messages(partition_of_id(user.id).0).is_empty(),
        "nothing in the partition its id's bits would name"
    );
    assert_eq!(other.users().import_home(&user).0, home);
}
