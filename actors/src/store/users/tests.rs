//! Tests of the user store: transactions, indexes, audit trail, reopening.

use super::*;
use crate::testing::store_with_keys;

use crate::testing::employee as record;

#[tokio::test]
async fn every_update_leaves_an_audit_record_of_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let rec = record(&store, "E1");
    store.users().insert(&rec).await.unwrap();
    for (i, name) in ["Second", "Third"].into_iter().enumerate() {
        store
            .users()
            .update(&rec.uuid, Some("actor-uuid"), 100 + i as i64, |old| {
                Ok::<_, ()>(UserRecord {
                    name: Some(name.into()),
                    ..old.clone()
                })
            })
            .await
            .unwrap();
    }
    let trail = store.users().audit_trail(rec.id).unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].previous.name.as_deref(), Some("Asha Devi"));
    assert_eq!(trail[1].previous.name.as_deref(), Some("Second"));
    assert_eq!(
        (trail[1].actor_uuid.as_deref(), trail[1].at),
        (Some("actor-uuid"), 101)
    );
    assert_eq!(
        store.users().get(rec.id).unwrap().unwrap().name.as_deref(),
        Some("Third")
    );
}

#[tokio::test]
async fn a_refused_update_changes_nothing_and_writes_no_audit() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let rec = record(&store, "E2");
    store.users().insert(&rec).await.unwrap();
    let result = store
        .users()
        .update(&rec.uuid, None, 5, |_| Err::<UserRecord, _>("no"))
        .await;
    assert!(matches!(result, Err(UserWriteError::Refused("no"))));
    assert!(store.users().audit_trail(rec.id).unwrap().is_empty());
    assert_eq!(store.users().get(rec.id).unwrap().unwrap(), rec);
}

#[tokio::test]
async fn changing_type_onto_a_taken_unique_key_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let a = record(&store, "SAME");
    store.users().insert(&a).await.unwrap();
    let mut b = record(&store, "SAME");
    b.user_type = UserType::System;
    store.users().insert(&b).await.unwrap();
    let result = store
        .users()
        .update(&b.uuid, None, 5, |old| {
            Ok::<_, ()>(UserRecord {
                user_type: UserType::Employee,
                ..old.clone()
            })
        })
        .await;
    assert!(matches!(result, Err(UserWriteError::Duplicate)));
}

#[tokio::test]
async fn reopening_needs_the_same_keys_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let rec = {
        let store = store_with_keys(dir.path(), 1, 2).unwrap();
        let rec = record(&store, "KEEP");
        store.users().insert(&rec).await.unwrap();
        rec
    };
    assert!(matches!(
        store_with_keys(dir.path(), 9, 2),
        Err(StoreError::WrongKeys("sealing"))
    ));
    assert!(matches!(
        store_with_keys(dir.path(), 1, 9),
        Err(StoreError::WrongKeys("blind-index"))
    ));
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    assert_eq!(
        store.users().get_by_uuid(&rec.uuid).unwrap(),
        Some(rec.clone())
    );
    // ids keep growing after a restart
    let (next, _) = store.users().mint_ids(&rec.tenant_id, "NEXT").unwrap();
    assert!(next >> 16 > rec.id >> 16);
}

#[test]
fn records_stored_before_default_pwd_changed_was_kept_read_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let mut r = record(&store, "OLDTIMER");
    r.default_pwd_changed = false;
    let mut stored = serde_json::to_value(&r).unwrap();
    assert_eq!(stored["default_pwd_changed"], false);
    stored
        .as_object_mut()
        .unwrap()
        .remove("default_pwd_changed");
    let read: UserRecord = serde_json::from_value(stored).unwrap();
    assert!(
        read.default_pwd_changed,
        "nobody is forced to change by an upgrade"
    );
}

#[tokio::test]
async fn tenants_stored_in_another_spelling_are_normalised_unless_that_makes_a_twin() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let users = store.users();
    // as an earlier build stored what a request spelled
    let legacy: TenantId = serde_json::from_str("\"PB.Amritsar\"").unwrap();
    let mut old = record(&store, "LEGACY");
    old.tenant_id = legacy.clone();
    old.roles[0].tenant_id = legacy.clone();
    users.insert(&old).await.unwrap();
    let mut twin_old = record(&store, "TWIN");
    twin_old.tenant_id = legacy.clone();
    users.insert(&twin_old).await.unwrap();
    users.insert(&record(&store, "TWIN")).await.unwrap();
    let city = TenantId::parse("pb.amritsar").unwrap();
    assert!(
        users
            .get_unique(&city, UserType::Employee, "LEGACY")
            .unwrap()
            .is_none()
    );

    let (rewritten, left) = users.normalise_tenants(5).unwrap();
    assert_eq!((rewritten, left), (1, vec![twin_old.uuid.clone()]));
    let found = users
        .get_unique(&city, UserType::Employee, "LEGACY")
        .unwrap()
        .expect("found in the normalised spelling");
    assert_eq!(found.roles[0].tenant_id, city);
    let by_role = users
        .search(&crate::domain::search::UserQuery {
            tenant_id: Some(city.clone()),
            role_codes: vec!["EMPLOYEE".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(
        by_role.iter().any(|u| u.uuid == found.uuid),
        "its role index too"
    );
    assert_eq!(users.audit_trail(found.id).unwrap().len(), 1, "audited");
    assert_eq!(
        users.normalise_tenants(6).unwrap(),
        (0, vec![twin_old.uuid])
    );
}
