//! Tests of the login state on sled: rotation, grace, reuse, revocations, lockouts, prune.

use super::*;
use crate::testing::store_with_keys;

const USER: &str = "0a0b0c0d-0000-4000-8000-000000000001";
const FAM: &str = "0a0b0c0d-0000-4000-8000-0000000000f1";
const JTI1: &str = "0a0b0c0d-0000-4000-8000-0000000000a1";
const JTI2: &str = "0a0b0c0d-0000-4000-8000-0000000000a2";

fn at(ms: i64) -> Seen {
    Seen {
        at: ms,
        ..Seen::default()
    }
}

fn family() -> Family {
    Family {
        user: USER.into(),
        user_type: "CITIZEN".into(),
        scope: "read".into(),
        expires_ms: 1_000_000,
        access_jti: JTI1.into(),
        access_expires_ms: 500_000,
        revoked: false,
        opened: None,
        last_used: None,
    }
}

#[tokio::test]
async fn rotation_grace_and_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let s = store.logins();
    s.open_family(FAM, &family(), &[1; 32]).await.unwrap();
    assert_eq!(s.peek_refresh(&[1; 32]).unwrap().unwrap().1, family());

    let first = s
        .refresh(
            &[1; 32],
            &[2; 32],
            (JTI2, 600_000),
            b"tokens of the first refresh",
            &at(100),
            10_000,
        )
        .await
        .unwrap();
    assert_eq!(first, RefreshOutcome::Rotated { previous: family() });
    let rotated = s.family_by_id(FAM).unwrap().unwrap();
    assert_eq!(rotated.access_jti, JTI2);
    assert_eq!(
        rotated.last_used,
        Some(at(100)),
        "the refresh is its last use"
    );
    // the access token it replaced is revoked in the same change, until it would have expired
    let replaced = *uuid::Uuid::parse_str(JTI1).unwrap().as_bytes();
    assert_eq!(
        s.revocations(100).unwrap(),
        vec![Revoked::Access(replaced, 500_000)]
    );
    // a concurrent use of the spent token inside the window gets what the first one issued, and
    // changes nothing: the family keeps one chain
    let again = s
        .refresh(
            &[1; 32],
            &[3; 32],
            (JTI1, 600_000),
            b"a second chain",
            &at(5_000),
            10_000,
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        RefreshOutcome::Repeated(b"tokens of the first refresh".to_vec())
    );
    assert!(s.peek_refresh(&[3; 32]).unwrap().is_none(), "no new token");
    assert_eq!(s.family_by_id(FAM).unwrap().unwrap().access_jti, JTI2);
    // after the window the same token is a reuse: the family dies, with every token in it
    let reuse = s
        .refresh(
            &[1; 32],
            &[4; 32],
            (JTI1, 600_000),
            b"",
            &at(10_101),
            10_000,
        )
        .await
        .unwrap();
    assert!(matches!(reuse, RefreshOutcome::Reused(f) if f.revoked));
    let dead = s
        .refresh(
            &[2; 32],
            &[5; 32],
            (JTI1, 600_000),
            b"",
            &at(10_102),
            10_000,
        )
        .await
        .unwrap();
    assert_eq!(dead, RefreshOutcome::Dead);
    assert_eq!(
        s.refresh(&[9; 32], &[6; 32], (JTI1, 1), b"", &at(1), 1)
            .await
            .unwrap(),
        RefreshOutcome::Unknown
    );
    assert_eq!(
        s.revocations(10_200).unwrap(),
        vec![
            Revoked::Family(*uuid::Uuid::parse_str(FAM).unwrap().as_bytes(), 1_000_000),
            Revoked::Access(replaced, 500_000),
        ]
    );
}

#[tokio::test]
async fn revocations_and_lockouts_survive_a_reopen_and_prune_forgets_the_over() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = store_with_keys(dir.path(), 1, 2).unwrap();
        let s = store.logins();
        s.open_family(FAM, &family(), &[1; 32]).await.unwrap();
        assert_eq!(s.families_of(USER, 0).unwrap().len(), 1);
        s.revoke(USER, &[(FAM.into(), 1_000_000)], &[(JTI1.into(), 500_000)])
            .await
            .unwrap();
        let locked = LockoutState {
            failures: vec![],
            locked_at: Some(1),
            locked_until: Some(2),
            ..LockoutState::default()
        };
        s.save_lockout(USER, &locked).await.unwrap();
    }
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let s = store.logins();
    assert_eq!(s.revocations(0).unwrap().len(), 2);
    assert_eq!(s.revocations(600_000).unwrap().len(), 1, "the jti is over");
    assert!(s.families_of(USER, 0).unwrap().is_empty(), "revoked");
    assert_eq!(s.locked_users().unwrap(), vec![USER.to_owned()]);
    assert_eq!(s.lockout(USER).unwrap().locked_until, Some(2));
    s.save_lockout(USER, &LockoutState::default())
        .await
        .unwrap();
    assert!(s.locked_users().unwrap().is_empty());

    assert!(s.prune(2_000_000).await.unwrap() >= 3);
    assert!(s.revocations(0).unwrap().is_empty());
    assert!(s.peek_refresh(&[1; 32]).unwrap().is_none());
}

#[tokio::test]
async fn login_state_is_sealed_at_rest_and_plain_json_of_an_earlier_build_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_keys(dir.path(), 1, 2).unwrap();
    let s = store.logins();
    s.open_family(FAM, &family(), &[1; 32]).await.unwrap();
    s.refresh(
        &[1; 32],
        &[2; 32],
        (JTI2, 600_000),
        b"next",
        &at(10),
        10_000,
    )
    .await
    .unwrap();
    let locked = LockoutState {
        failures: vec![5, 6],
        ..LockoutState::default()
    };
    s.save_lockout(USER, &locked).await.unwrap();
    // no value of the login trees reads as JSON, nor shows whose or which tokens
    let mut seen = 0;
    for ((tree, _), value) in crate::testing::contents(&store) {
        if ![TreeId::Lockouts, TreeId::Families, TreeId::Refresh]
            .iter()
            .any(|t| *t as u8 == tree)
        {
            continue;
        }
        seen += 1;
        let text = String::from_utf8_lossy(&value);
        assert!(!value.starts_with(b"{"), "{text}");
        for clear in [USER, JTI1, JTI2, "CITIZEN", "access_jti", "failures"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
    }
    assert_eq!(seen, 4, "a lockout, a family, two refresh tokens");
    assert_eq!(s.lockout(USER).unwrap(), locked);
    assert_eq!(s.family_by_id(FAM).unwrap().unwrap().access_jti, JTI2);

    // what an earlier build wrote, plain, is read as before
    let other = "0a0b0c0d-0000-4000-8000-000000000002";
    let plain = serde_json::to_vec(&locked).unwrap();
    s.lockouts
        .insert(uuid_key(other).unwrap(), plain.as_slice())
        .unwrap();
    assert_eq!(s.lockout(other).unwrap(), locked);
}
