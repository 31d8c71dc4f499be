//! Access tokens: JWTs (HS256, with `kid`) whose claims carry the `/user/_details` snapshot sealed with
//! ChaCha20-Poly1305 — so `/_details` is answered from the token alone, and a token read by anyone reveals no
//! PII. Expiry is checked against the caller's `now` (time is an input). Tokens signed under a previous key id
//! keep verifying while that key is configured as previous.
//!
//! Claims: `sub` (user uuid), `jti`, `iat`, `exp` (seconds), `fam` (refresh family), `typ` (user type, so a
//! citizen's and an employee's session with the same username never mix), `snap` (the sealed snapshot).

use std::collections::HashMap;

use actors::domain::UserRecord;
use actors::seal::{KEY_LEN, Keyring};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The user as `/user/_details` and the token response's `UserRequest` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `id`
    pub id: i64,
    /// `uuid`
    pub uuid: String,
    /// `userName`
    pub user_name: String,
    /// `name`
    pub name: Option<String>,
    /// `mobileNumber`
    pub mobile_number: Option<String>,
    /// `emailId`
    pub email_id: Option<String>,
    /// `locale`
    pub locale: Option<String>,
    /// `type`
    pub user_type: String,
    /// `roles`
    pub roles: Vec<SnapshotRole>,
    /// `active`
    pub active: bool,
    /// `tenantId`
    pub tenant_id: String,
    /// `permanentCity`
    pub permanent_city: Option<String>,
}

/// A role in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRole {
    /// `name`
    pub name: String,
    /// `code`
    pub code: String,
    /// `tenantId`
    pub tenant_id: String,
}

impl Snapshot {
    /// The snapshot of a stored user.
    pub fn of(r: &UserRecord) -> Self {
        Self {
            id: r.id,
            uuid: r.uuid.clone(),
            user_name: r.user_name.clone(),
            name: r.name.clone(),
            mobile_number: r.mobile_number.clone(),
            email_id: r.email_id.clone(),
            locale: r.locale.clone(),
            user_type: r.user_type.as_str().to_owned(),
            roles: r
                .roles
                .iter()
                .map(|role| SnapshotRole {
                    name: role.name.clone(),
                    code: role.code.clone(),
                    tenant_id: role.tenant_id.to_string(),
                })
                .collect(),
            active: r.active,
            tenant_id: r.tenant_id.to_string(),
            permanent_city: r.permanent_address.as_ref().and_then(|a| a.city.clone()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    jti: String,
    iat: i64,
    exp: i64,
    fam: String,
    typ: String,
    snap: String,
}

/// A freshly minted access token.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The JWT.
    pub token: String,
    /// Its id.
    pub jti: String,
    /// Expiry, epoch seconds.
    pub expires_at: i64,
}

/// A token that verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Its id (for the revocation set).
    pub jti: String,
    /// Its refresh family.
    pub family: String,
    /// Expiry, epoch seconds.
    pub expires_at: i64,
    /// The user.
    pub snapshot: Snapshot,
}

/// Why a token was refused. Deliberately coarse: the caller answers `InvalidAccessTokenException` for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, forged, signed under an unknown key, or its snapshot does not open.
    #[error("invalid access token")]
    Invalid,
    /// Past its `exp`.
    #[error("expired access token")]
    Expired,
    /// Signing or sealing failed (a bug or the OS random source).
    #[error("token could not be minted")]
    Mint,
}

struct KeySet {
    encoding: EncodingKey,
    decoding: DecodingKey,
    sealer: Keyring,
}

impl KeySet {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(b"digit-user access token snapshot sealing");
        let seal_key: [u8; KEY_LEN] = mac.finalize().into_bytes().into();
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            sealer: Keyring::new(&[(1, seal_key)]).expect("one key"),
        }
    }
}

/// Mints and verifies access tokens.
pub struct TokenCodec {
    current: String,
    keys: HashMap<String, KeySet>,
    validation: Validation,
}

impl TokenCodec {
    /// A codec over one signing key, its key id derived from the key (so rotating the key changes it).
    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(b"digit-user access token key id");
        let digest = mac.finalize().into_bytes();
        let kid: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self::new((&kid, key), &[])
    }

    /// A codec signing with `(kid, key)` and also verifying tokens of the `previous` keys.
    pub fn new(current: (&str, &[u8; KEY_LEN]), previous: &[(&str, &[u8; KEY_LEN])]) -> Self {
        let mut keys: HashMap<String, KeySet> = previous
            .iter()
            .map(|(kid, key)| ((*kid).to_owned(), KeySet::new(key)))
            .collect();
        keys.insert(current.0.to_owned(), KeySet::new(current.1));
        let mut validation = Validation::new(Algorithm::HS256);
        // expiry is checked against the injected clock below, not the system clock
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
        Self {
            current: current.0.to_owned(),
            keys,
            validation,
        }
    }

    /// Mints a token for `snapshot` in refresh family `family`, valid for `validity_secs` from `now_secs`.
    pub fn mint(
        &self,
        snapshot: &Snapshot,
        family: &str,
        now_secs: i64,
        validity_secs: i64,
    ) -> Result<Minted, TokenError> {
        let keys = &self.keys[&self.current];
        let jti = uuid::Uuid::new_v4().to_string();
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(snapshot).map_err(|_| TokenError::Mint)?);
        let sealed = keys
            .sealer
            .seal(&plain, jti.as_bytes())
            .map_err(|_| TokenError::Mint)?;
        let claims = Claims {
            sub: snapshot.uuid.clone(),
            jti: jti.clone(),
            iat: now_secs,
            exp: now_secs + validity_secs,
            fam: family.to_owned(),
            typ: snapshot.user_type.clone(),
            snap: URL_SAFE_NO_PAD.encode(sealed),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &keys.encoding).map_err(|_| TokenError::Mint)?;
        Ok(Minted {
            token,
            jti,
            expires_at: claims.exp,
        })
    }

    /// Verifies `token` at `now_secs` and opens its snapshot.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let keys = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if now_secs >= claims.exp {
            return Err(TokenError::Expired);
        }
        let sealed = URL_SAFE_NO_PAD
            .decode(&claims.snap)
            .map_err(|_| TokenError::Invalid)?;
        let plain = zeroize::Zeroizing::new(
            keys.sealer
                .open(&sealed, claims.jti.as_bytes())
                .map_err(|_| TokenError::Invalid)?,
        );
        let snapshot: Snapshot = serde_json::from_slice(&plain).map_err(|_| TokenError::Invalid)?;
        if snapshot.uuid != claims.sub || snapshot.user_type != claims.typ {
            return Err(TokenError::Invalid);
        }
        Ok(Verified {
            jti: claims.jti,
            family: claims.fam,
            expires_at: claims.exp,
            snapshot,
        })
    }
}

#[cfg(test)]
mod tests {
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
}
