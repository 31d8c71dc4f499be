//! Tests of the access-token codec: claims, expiry, forgery, PII, key rotation and grace.

use super::*;

fn snapshot() -> Snapshot {
    Snapshot {
        id: 65_536,
        uuid: "5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f70".into(),
        user_name: "9876543210".into(),
        name: Some("Asha Devi".into()),
        mobile_number: Some("9876543210".into()),
        email_id: Some("asha@example.org".into()),
        locale: None,
        user_type: "CITIZEN".into(),
        roles: vec![SnapshotRole {
            name: "Citizen".into(),
            code: "CITIZEN".into(),
            tenant_id: "pb".into(),
        }],
        active: true,
        tenant_id: "pb".into(),
        permanent_city: Some("Amritsar".into()),
    }
}

fn codec(key: u8) -> TokenCodec {
    TokenCodec::new(("k1", &[key; KEY_LEN]), &[])
}

#[test]
fn a_minted_token_verifies_and_carries_the_snapshot() {
    let c = codec(1);
    let minted = c.mint(&snapshot(), "fam-1", 1_000, 600).unwrap();
    let v = c.verify(&minted.token, 1_599).unwrap();
    assert_eq!(v.snapshot, snapshot());
    assert_eq!(
        (v.jti, v.family.as_str(), v.expires_at),
        (minted.jti, "fam-1", 1_600)
    );
}

#[test]
fn expiry_is_checked_against_the_given_time() {
    let c = codec(1);
    let minted = c.mint(&snapshot(), "f", 1_000, 600).unwrap();
    assert_eq!(c.verify(&minted.token, 1_600), Err(TokenError::Expired));
}

#[test]
fn forged_tampered_and_foreign_tokens_are_invalid() {
    let c = codec(1);
    let minted = c.mint(&snapshot(), "f", 1_000, 600).unwrap();
    assert_eq!(
        codec(2).verify(&minted.token, 1_001),
        Err(TokenError::Invalid),
        "another key"
    );
    let mut parts: Vec<String> = minted.token.split('.').map(str::to_owned).collect();
    let claims_json = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    parts[1] = URL_SAFE_NO_PAD.encode(claims_json.replace("\"exp\":1600", "\"exp\":9999999"));
    assert_eq!(
        c.verify(&parts.join("."), 1_001),
        Err(TokenError::Invalid),
        "tampered claims"
    );
    assert_eq!(c.verify("not-a-jwt", 1_001), Err(TokenError::Invalid));
    let other_kid = TokenCodec::new(("k9", &[1; KEY_LEN]), &[]);
    assert_eq!(
        other_kid.verify(&minted.token, 1_001),
        Err(TokenError::Invalid),
        "unknown kid"
    );
}

#[test]
fn the_token_reveals_no_pii() {
    let minted = codec(1).mint(&snapshot(), "f", 1_000, 600).unwrap();
    let readable: String = minted
        .token
        .split('.')
        .take(2)
        .map(|p| String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(p).unwrap()).into_owned())
        .collect();
    for pii in ["9876543210", "Asha", "asha@example.org", "Amritsar"] {
        assert!(!readable.contains(pii), "{pii} readable in {readable}");
    }
    assert!(readable.contains("\"kid\":\"k1\""));
}

#[test]
fn tokens_of_a_previous_key_verify_after_rotation() {
    let old = codec(1);
    let minted = old.mint(&snapshot(), "f", 1_000, 600).unwrap();
    let rotated = TokenCodec::new(("k2", &[2; KEY_LEN]), &[("k1", &[1; KEY_LEN])]);
    assert!(rotated.verify(&minted.token, 1_001).is_ok());
    let fresh = rotated.mint(&snapshot(), "f", 1_000, 600).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&fresh.token)
            .unwrap()
            .kid
            .as_deref(),
        Some("k2"),
        "new tokens use the new key"
    );
    assert_eq!(old.verify(&fresh.token, 1_001), Err(TokenError::Invalid));
}

#[test]
fn a_key_list_signs_with_its_current_key_and_a_previous_one_verifies_until_its_grace_ends() {
    let keys = [(1, [1; KEY_LEN]), (2, [2; KEY_LEN])];
    let c = TokenCodec::ring(&keys, 1, 5_000).unwrap();
    let by_one = c.mint(&snapshot(), "f", 1_000, 600).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&by_one.token).unwrap().kid,
        Some(kid_of(&[1; KEY_LEN]))
    );
    assert!(c.replace(&keys, 2, 1_500), "promoted while running");
    let by_two = c.mint(&snapshot(), "f", 1_000, 600).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&by_two.token).unwrap().kid,
        Some(kid_of(&[2; KEY_LEN]))
    );
    assert!(c.verify(&by_one.token, 1_499).is_ok(), "inside the grace");
    assert_eq!(c.verify(&by_one.token, 1_500), Err(TokenError::Invalid));
    assert!(c.verify(&by_two.token, 1_500).is_ok());
    let force = c.in_force();
    assert_eq!(
        (force[0].signs, force[1].verifies_until),
        (true, Some(1_500))
    );
    assert!(!c.replace(&keys, 3, 0), "a current key the list lacks");
    assert!(c.verify(&by_two.token, 1_500).is_ok(), "nothing changed");
    assert!(TokenCodec::ring(&keys, 9, 0).is_none());
}

#[test]
fn a_key_loaded_for_a_rotation_verifies_before_this_pod_signs_with_it() {
    let keys = [(1, [1; KEY_LEN]), (2, [2; KEY_LEN])];
    // pinned to key 1 long ago: its grace would be over, but key 2 is newer, not previous
    let staged = TokenCodec::ring(&keys, 1, 100).unwrap();
    let promoted_elsewhere = TokenCodec::ring(&keys, 2, 100).unwrap();
    let by_two = promoted_elsewhere
        .mint(&snapshot(), "f", 1_000, 600)
        .unwrap();
    assert!(
        staged.verify(&by_two.token, 1_001).is_ok(),
        "a token another pod signed with the new key"
    );
    let by_one = staged.mint(&snapshot(), "f", 1_000, 600).unwrap();
    assert_eq!(
        promoted_elsewhere.verify(&by_one.token, 1_001),
        Err(TokenError::Invalid),
        "the old key's grace (ended at 100) is over on the promoted pod"
    );
}

#[test]
fn a_token_is_small_and_the_gateway_reads_it_without_decoding() {
    let minted = codec(1)
        .mint(
            &snapshot(),
            "5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f71",
            1_000,
            600,
        )
        .unwrap();
    // the first form was 995 characters for such a user: the URL of every checked request carries it
    assert!(
        minted.token.len() < 500,
        "{} characters",
        minted.token.len()
    );
    assert!(
        minted
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    );
}

#[test]
fn a_token_of_the_first_form_verifies_until_it_expires() {
    // minted as the first form did: the snapshot as JSON sealed under the token's id, ids in the clear
    #[derive(Serialize)]
    struct First<'a> {
        sub: &'a str,
        jti: &'a str,
        iat: i64,
        exp: i64,
        fam: &'a str,
        typ: &'a str,
        snap: String,
    }
    let c = codec(1);
    let keys = KeySet::new(&[1; KEY_LEN]);
    let s = snapshot();
    let jti = "0b6c4b1e-2f8a-4d0e-8c1a-3e5f7a9b1c2d";
    let sealed = keys
        .sealer
        .seal(&serde_json::to_vec(&s).unwrap(), jti.as_bytes())
        .unwrap();
    let claims = First {
        sub: &s.uuid,
        jti,
        iat: 1_000,
        exp: 1_600,
        fam: "fam-1",
        typ: &s.user_type,
        snap: URL_SAFE_NO_PAD.encode(sealed),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap();
    let v = c.verify(&token, 1_599).unwrap();
    assert_eq!(v.snapshot, s);
    assert_eq!(
        (v.jti.as_str(), v.family.as_str(), v.expires_at),
        (jti, "fam-1", 1_600)
    );
    assert_eq!(c.verify(&token, 1_600), Err(TokenError::Expired));
    // its checks hold: a subject that is not the sealed user's is refused
    let forged = jsonwebtoken::encode(
        &header,
        &First {
            sub: "5f0e2c1a-8d3b-4c7e-9f10-000000000000",
            ..claims
        },
        &keys.encoding,
    )
    .unwrap();
    assert_eq!(c.verify(&forged, 1_001), Err(TokenError::Invalid));
}
