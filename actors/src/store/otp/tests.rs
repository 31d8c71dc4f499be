//! Tests of the OTP store: saves, reopen, nothing in clear, prune, the state layouts.

use super::*;
use crate::domain::otp::{FreshCode, OtpKeys, OtpPolicy, Purpose};
use crate::seal::KEY_LEN;
use crate::store::{OutboxSummary, Store};
use crate::testing::store_with_keys;

fn open(dir: &std::path::Path) -> Store {
    store_with_keys(dir, 1, 2).unwrap()
}

const POLICY: OtpPolicy = crate::testing::OTP_POLICY;

fn sms(text: &str) -> OutboxRecord {
    crate::testing::sms_record("m-1", "9876543210", text)
}

#[tokio::test]
async fn a_send_and_its_payload_survive_a_reopen_and_nothing_is_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let token = uuid::Uuid::new_v4();
    let keys = OtpKeys::new(&[7; KEY_LEN]);
    let code = {
        let store = open(dir.path());
        let otp = store.otp();
        let key = otp.session_key("pb", "9876543210");
        let mut state = otp.load(&key).unwrap();
        let sent = state
            .send(
                0,
                Purpose::Login,
                FreshCode {
                    token_id: token,
                    nonce: [5; 16],
                },
                &keys,
                &POLICY,
                None,
            )
            .unwrap()
            .into_sms()
            .unwrap();
        let code = keys.derive_code(&sent.code.nonce, 6);
        let owner = TokenOwner {
            identity: "9876543210".into(),
            tenant: "pb".into(),
        };
        otp.save(
            &key,
            &state,
            Some(TokenRecord {
                id: token,
                owner: &owner,
                until_ms: sent.code.expires_ms,
            }),
            &[sms(&format!("Your OTP is {code}"))],
        )
        .await
        .unwrap();
        code
    };
    let store = open(dir.path());
    let otp = store.otp();
    let key = otp.session_key("pb", "9876543210");
    let (found, owner) = otp.session_of_token(&token).unwrap().unwrap();
    assert_eq!(
        (found, owner.identity.as_str(), owner.tenant.as_str()),
        (key, "9876543210", "pb")
    );
    let mut state = otp.load(&key).unwrap();
    assert!(state.validate(1, None, &code, &keys).is_ok());
    let batch = store.outbox().batch(10).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].1.notification.text(),
        format!("Your OTP is {code}")
    );
    store.outbox().ack_all(&[batch[0].0]).await.unwrap();
    assert_eq!(store.outbox().depth(), 0);
    drop(store);
    for entry in std::fs::read_dir(dir.path().join("db")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for needle in [code.as_bytes(), b"9876543210".as_slice()] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "clear value in {}",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn an_idle_state_is_removed_and_outbox_failures_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let otp = store.otp();
    let key = otp.session_key("pb", "9000000000");
    let seqs = otp
        .save(
            &key,
            &OtpSessionState::default(),
            None,
            &[sms("a"), sms("b")],
        )
        .await
        .unwrap();
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] < seqs[1]);
    assert_eq!(otp.load(&key).unwrap(), OtpSessionState::default());
    let (seq, mut rec) = store.outbox().batch(1).await.unwrap().remove(0);
    rec.attempts += 1;
    rec.last_error = Some("broker down".into());
    store.outbox().failed(seq, &rec).await.unwrap();
    assert_eq!(store.outbox().batch(1).await.unwrap()[0].1.attempts, 1);
    assert_eq!(store.outbox().depth(), 2);
    assert_eq!(
        store.outbox().summary(1_005).unwrap(),
        OutboxSummary {
            depth: 2,
            oldest_age_ms: Some(1_000),
            max_attempts: 1,
            last_error: Some("broker down".into()),
        }
    );
}

fn owner() -> TokenOwner {
    TokenOwner {
        identity: "9000000001".into(),
        tenant: "pb".into(),
    }
}

#[tokio::test]
async fn prune_forgets_ended_token_entries_and_idle_states_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let otp = store.otp();
    let keys = OtpKeys::new(&[7; KEY_LEN]);
    let (live, idle) = (
        otp.session_key("pb", "9000000001"),
        otp.session_key("pb", "9000000002"),
    );
    let (token_live, token_old) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let fresh = |token: uuid::Uuid| FreshCode {
        token_id: token,
        nonce: [1; 16],
    };
    // a send at 0 on one number, and a direct code at 0 on another that nobody used
    let mut state = OtpSessionState::default();
    state
        .send(0, Purpose::Register, fresh(token_old), &keys, &POLICY, None)
        .unwrap();
    otp.save(&live, &state, None, &[]).await.unwrap();
    assert!(
        otp.session_of_token(&token_old).unwrap().is_none(),
        "a send enters no token"
    );
    let mut direct = OtpSessionState::default();
    let code = direct.issue_direct(0, fresh(token_live), &keys, &POLICY);
    let record = TokenRecord {
        id: token_live,
        owner: &owner(),
        until_ms: code.expires_ms,
    };
    otp.save(&idle, &direct, Some(record), &[]).await.unwrap();

    // before anything ended: nothing goes
    assert_eq!(otp.prune(POLICY.ttl_ms - 1).await.unwrap(), 0);
    assert!(otp.session_of_token(&token_live).unwrap().is_some());
    // the direct code expired: its entry and its session's state go; the send is remembered a day
    assert_eq!(otp.prune(POLICY.ttl_ms).await.unwrap(), 2);
    assert!(otp.session_of_token(&token_live).unwrap().is_none());
    assert_eq!(otp.load(&idle).unwrap(), OtpSessionState::default());
    assert!(!otp.load(&live).unwrap().sends.is_empty());
    // a day after the send the other state goes too
    assert_eq!(otp.prune(crate::domain::otp::DAY_MS).await.unwrap(), 1);
    assert_eq!(otp.load(&live).unwrap(), OtpSessionState::default());
}

#[tokio::test]
async fn states_read_from_json_and_are_written_compact() {
    let keys = OtpKeys::new(&[7; KEY_LEN]);
    let mut state = OtpSessionState::default();
    let fresh = FreshCode {
        token_id: uuid::Uuid::new_v4(),
        nonce: [3; 16],
    };
    state
        .send(5, Purpose::Login, fresh, &keys, &POLICY, None)
        .unwrap();
    state.consumed.push((uuid::Uuid::new_v4(), 4));
    let json = serde_json::to_vec(&state).unwrap();
    assert_eq!(decode_state(&json).unwrap(), state);
    let compact = encode_state(&state).unwrap();
    assert_eq!(decode_state(&compact).unwrap(), state);
    assert!(
        compact.len() * 2 < json.len(),
        "{} vs {}",
        compact.len(),
        json.len()
    );
    assert!(decode_state(b"\x07junk").is_err());
    assert_eq!(compact[0], STATE_POSTCARD);
    assert!(decode_state(&compact[..compact.len() - 3]).is_err());

    // a JSON state stored by an earlier build is read through the store
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let otp = store.otp();
    let key = otp.session_key("pb", "9000000003");
    let sealed = otp.keyring.seal(&json, &aad(SESSIONS, &key.blind)).unwrap();
    otp.sessions.insert(key.blind, sealed).unwrap();
    assert_eq!(otp.load(&key).unwrap(), state);
}

#[test]
fn states_of_the_first_postcard_layout_read_with_their_codes_sent_once() {
    // tag 1 as the earlier build wrote it, spelled out from postcard's wire format: a map is a varint
    // count and its entries, a unit variant its varint index, a uuid a length-prefixed byte string, an
    // array its bytes, an i64 a zigzag varint
    let mut stored = vec![1, 1, 1]; // tag, one code, Purpose::Login (variant 1)
    stored.extend([16].iter().chain(&[4; 16])); // token_id
    stored.extend([1; 16]); // nonce
    stored.extend([2; 32]); // hash
    stored.extend([0x14]); // created_ms 10
    stored.extend([0x94, 0x9f, 0x49]); // expires_ms 600_010
    stored.extend([4]); // tries_left
    stored.extend([1, 0x14]); // sends [10]
    stored.extend([1, 16]); // consumed: one, its uuid …
    stored.extend([6; 16]);
    stored.extend([0x12]); // … at 9
    let state = decode_state(&stored).unwrap();
    let login = state.codes.get(Purpose::Login).unwrap();
    assert_eq!(
        (login.token_id, login.nonce, login.hash, login.created_ms),
        (uuid::Uuid::from_bytes([4; 16]), [1; 16], [2; 32], 10)
    );
    assert_eq!(
        (login.expires_ms, login.tries_left, login.sms_sent),
        (600_010, 4, 1)
    );
    assert_eq!(state.codes.len(), 1);
    assert_eq!(state.sends, [10]);
    assert_eq!(state.consumed, [(uuid::Uuid::from_bytes([6; 16]), 9)]);
    assert!(
        decode_state(&stored[..stored.len() - 1]).is_err(),
        "a cut state is refused"
    );
    // and it is written back in today's layout
    let today = encode_state(&state).unwrap();
    assert_eq!(today[0], STATE_POSTCARD);
    assert_eq!(decode_state(&today).unwrap(), state);
}
