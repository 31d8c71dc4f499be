use super::*;

fn writes() -> (tempfile::TempDir, Writes) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let writes = Writes::open(&db).unwrap();
    (dir, writes)
}

#[test]
fn a_tap_sees_committed_change_sets_in_order_and_nothing_aborted() {
    let (_dir, w) = writes();
    w.apply(vec![Op {
        tree: TreeId::Users,
        key: b"before".to_vec(),
        value: Some(b"0".to_vec()),
    }])
    .unwrap();
    let tap = w.tap(16);
    w.transact(&[TreeId::Users, TreeId::UserIndex], |tx| {
        tx.tree(TreeId::Users).insert(b"a", b"1".to_vec())?;
        tx.tree(TreeId::UserIndex).insert(b"i", b"a".to_vec())?;
        Ok::<_, ConflictableTransactionError<()>>(())
    })
    .unwrap();
    let refused = w.transact(&[TreeId::Users], |tx| {
        tx.tree(TreeId::Users).insert(b"b", b"2".to_vec())?;
        Err::<(), _>(ConflictableTransactionError::Abort("no"))
    });
    assert!(matches!(refused, Err(TransactionError::Abort("no"))));
    // a removal, and one refused because the key holds another value: a change set that writes nothing
    for (key, expected) in [(&b"a"[..], &b"1"[..]), (b"before", b"other")] {
        w.transact(&[TreeId::Users], |tx| {
            let users = tx.tree(TreeId::Users);
            if users.get(key)?.as_deref() == Some(expected) {
                users.remove(key)?;
            }
            Ok::<_, ConflictableTransactionError<()>>(())
        })
        .unwrap();
    }
    let seen = w.drain(&tap);
    assert_eq!(
        seen.len(),
        2,
        "the aborted set and the change set that wrote nothing are not seen"
    );
    assert_eq!(
        seen[0],
        vec![
            Op {
                tree: TreeId::Users,
                key: b"a".to_vec(),
                value: Some(b"1".to_vec())
            },
            Op {
                tree: TreeId::UserIndex,
                key: b"i".to_vec(),
                value: Some(b"a".to_vec())
            },
        ]
    );
    assert_eq!(
        seen[1],
        vec![Op {
            tree: TreeId::Users,
            key: b"a".to_vec(),
            value: None
        }]
    );
    assert_eq!(w.tree(TreeId::Users).get(b"b").unwrap(), None);
    assert!(w.tree(TreeId::Users).get(b"before").unwrap().is_some());
}

#[test]
fn a_tap_that_would_hold_too_much_is_cut_off_and_says_so() {
    let (_dir, w) = writes();
    let tap = w.tap(2);
    for i in 0u8..3 {
        w.apply(vec![Op {
            tree: TreeId::Revoked,
            key: vec![i],
            value: Some(vec![i]),
        }])
        .unwrap();
    }
    assert!(tap.overflowed());
    assert_eq!(w.drain(&tap).len(), 2, "what it held before the cut");
    w.apply(vec![Op {
        tree: TreeId::Revoked,
        key: vec![9],
        value: None,
    }])
    .unwrap();
    assert!(w.drain(&tap).is_empty(), "nothing after the cut");
}

#[test]
fn a_dry_run_writes_nothing_and_its_ops_applied_equal_the_commit() {
    let (_dir, w) = writes();
    let change = |tx: &Tx<'_>| {
        let users = tx.tree(TreeId::Users);
        if users.get(b"taken")?.is_some() {
            return Err(ConflictableTransactionError::Abort("taken"));
        }
        users.insert(b"a", b"1".to_vec())?;
        tx.tree(TreeId::UserIndex).insert(b"i", b"a".to_vec())?;
        // reads see the run's own writes, as in a commit
        Ok(users.get(b"a")?.map(|v| v.to_vec()))
    };
    let tap = w.tap(16);
    let (seen, ops) = w
        .dry_run(&[TreeId::Users, TreeId::UserIndex], change)
        .unwrap();
    assert_eq!(seen, Some(b"1".to_vec()));
    assert_eq!(ops.len(), 2);
    assert_eq!(
        w.tree(TreeId::Users).get(b"a").unwrap(),
        None,
        "nothing written"
    );
    assert!(w.drain(&tap).is_empty(), "no tap told");
    w.apply(ops).unwrap();
    let (dir2, other) = writes();
    other
        .transact(&[TreeId::Users, TreeId::UserIndex], change)
        .unwrap();
    for tree in [TreeId::Users, TreeId::UserIndex] {
        let entries = |w: &Writes| {
            w.tree(tree)
                .iter()
                .map(|kv| kv.unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(entries(&w), entries(&other));
    }
    drop(dir2);
    w.apply(vec![Op {
        tree: TreeId::Users,
        key: b"taken".to_vec(),
        value: Some(vec![]),
    }])
    .unwrap();
    assert!(matches!(
        w.dry_run(&[TreeId::Users, TreeId::UserIndex], change),
        Err(TransactionError::Abort("taken"))
    ));
}

#[test]
fn every_tree_has_a_tag_and_a_name_of_its_own() {
    for id in TreeId::ALL {
        assert_eq!(TreeId::from_tag(id as u8), Some(id));
    }
    let names: std::collections::HashSet<_> = TreeId::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), TreeId::ALL.len());
    assert_eq!(TreeId::from_tag(0), None);
}

#[test]
#[should_panic(expected = "is not part of this transaction")]
fn writing_a_tree_outside_the_transaction_is_a_bug() {
    let (_dir, w) = writes();
    let _ = w.transact(&[TreeId::Users], |tx| {
        tx.tree(TreeId::Revoked).insert(b"x", b"y".to_vec())?;
        Ok::<_, ConflictableTransactionError<()>>(())
    });
}
