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
fn the_undo_a_run_records_puts_back_every_key_it_touched() {
    let (_dir, w) = writes();
    let put = |tree, key: &[u8], value: &[u8]| Op {
        tree,
        key: key.to_vec(),
        value: Some(value.to_vec()),
    };
    w.apply(vec![
        put(TreeId::Users, b"kept", b"0"),
        put(TreeId::Users, b"gone", b"0"),
        put(TreeId::UserIndex, b"twice", b"0"),
    ])
    .unwrap();
    let trees = [TreeId::Users, TreeId::UserIndex];
    let before: Vec<Vec<_>> = trees
        .iter()
        .map(|t| w.tree(*t).iter().map(|kv| kv.unwrap()).collect())
        .collect();
    let (ops, undo) = w
        .transact(&trees, |tx| {
            let users = tx.tree(TreeId::Users);
            users.insert(b"kept", b"1".to_vec())?;
            users.remove(b"gone")?;
            users.insert(b"new", b"1".to_vec())?;
            let index = tx.tree(TreeId::UserIndex);
            index.insert(b"twice", b"1".to_vec())?;
            index.insert(b"twice", b"2".to_vec())?;
            Ok::<_, ConflictableTransactionError<()>>(tx.recorded())
        })
        .unwrap();
    assert_eq!(ops.len(), 5);
    assert_eq!(undo.len(), 5, "one pre-image a write");
    assert_eq!(
        w.tree(TreeId::UserIndex).get(b"twice").unwrap().unwrap(),
        b"2".as_ref()
    );
    w.apply(undo).unwrap();
    let after: Vec<Vec<_>> = trees
        .iter()
        .map(|t| w.tree(*t).iter().map(|kv| kv.unwrap()).collect())
        .collect();
    assert_eq!(
        after, before,
        "as it was: the overwritten, the removed, the twice written"
    );
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
