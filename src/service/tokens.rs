//! Access tokens: JWTs (HS256, with `kid`) whose claims carry the `/user/_details` snapshot sealed with
//! ChaCha20-Poly1305 — so `/_details` is answered from the token alone, and a token read by anyone reveals no
//! PII. Expiry is checked against the caller's `now` (time is an input). Tokens signed under a previous key id
//! keep verifying while that key is configured as previous, until the end of its grace (a rotation logs
//! nobody out: the grace is at least an access token's validity). The keys can be replaced while running.
//!
//! Claims: `exp` (seconds) and `s` — the token's id, its refresh family and the user (with the user type, so a
//! citizen's and an employee's session with the same username never mix), packed and sealed ([`packed`]:
//! about 400 characters in all, against 1 KB for the first form). Tokens of the first form (`sub`, `jti`,
//! `iat`, `exp`, `fam`, `typ`, `snap`: the snapshot as sealed JSON) still verify until they expire.

use std::collections::HashMap;

use actors::domain::UserRecord;
use actors::seal::{KEY_LEN, Keyring};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

mod packed;
use packed::Packed;

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

/// The claims a token is minted with: its expiry in the clear (any JWT reader sees when it ends), the rest
/// packed and sealed in `s` ([`packed`]).
#[derive(Debug, Serialize)]
struct Claims<'a> {
    exp: i64,
    s: &'a str,
}

/// The claims of either form: `exp` and `s`, or the first form's `sub`, `jti`, `iat`, `fam`, `typ` and
/// `snap` (sealed JSON) — tokens minted before the second form verify until they expire.
#[derive(Debug, Deserialize)]
struct AnyClaims {
    exp: i64,
    s: Option<String>,
    sub: Option<String>,
    jti: Option<String>,
    fam: Option<String>,
    typ: Option<String>,
    snap: Option<String>,
}

/// The associated data `s` is sealed with: the expiry it was minted with.
fn packed_aad(exp: i64) -> [u8; 11] {
    let mut aad = *b"v2:\0\0\0\0\0\0\0\0";
    aad[3..].copy_from_slice(&exp.to_be_bytes());
    aad
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
    /// Signed by a previous key: the end of its grace, epoch seconds.
    pub key_until: Option<i64>,
    /// The `/user/_details` answer, rendered by its first call: a verification cached for a token that the
    /// gateway sends again and again is answered with the same bytes.
    pub details: std::sync::OnceLock<Vec<u8>>,
    /// The codec's keys it was verified under ([`TokenCodec::generation`]).
    pub keys: u64,
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

/// The signing keys: the current one by key id, and every key that verifies with the moment it stops
/// (epoch seconds; `None`: never, while configured).
struct CodecKeys {
    current: String,
    keys: HashMap<String, (KeySet, Option<i64>)>,
}

/// A signing key of a key list, as the codec tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInForce {
    /// Its `kid`.
    pub kid: String,
    /// It signs new tokens.
    pub signs: bool,
    /// Tokens it signed stop verifying at this moment, epoch seconds (a previous key's grace end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifies_until: Option<i64>,
}

/// Mints and verifies access tokens.
pub struct TokenCodec {
    keys: std::sync::RwLock<std::sync::Arc<CodecKeys>>,
    /// Counts the key replacements: what was verified under other keys is verified again.
    generation: std::sync::atomic::AtomicU64,
    validation: Validation,
}

/// The key id of a signing key: derived from the key, so a new key has a new one.
pub fn kid_of(key: &[u8; KEY_LEN]) -> String {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(b"digit-user access token key id");
    let digest = mac.finalize().into_bytes();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl TokenCodec {
    /// A codec over one signing key, its key id derived from the key (so rotating the key changes it).
    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        Self::new((&kid_of(key), key), &[])
    }

    /// A codec signing with `(kid, key)` and also verifying tokens of the `previous` keys.
    pub fn new(current: (&str, &[u8; KEY_LEN]), previous: &[(&str, &[u8; KEY_LEN])]) -> Self {
        let mut keys: HashMap<String, (KeySet, Option<i64>)> = previous
            .iter()
            .map(|(kid, key)| ((*kid).to_owned(), (KeySet::new(key), None)))
            .collect();
        keys.insert(current.0.to_owned(), (KeySet::new(current.1), None));
        let mut validation = Validation::new(Algorithm::HS256);
        // expiry is checked against the injected clock below, not the system clock
        validation.validate_exp = false;
        validation.required_spec_claims = std::iter::once("exp".to_owned()).collect();
        Self {
            keys: std::sync::RwLock::new(std::sync::Arc::new(CodecKeys {
                current: current.0.to_owned(),
                keys,
            })),
            generation: std::sync::atomic::AtomicU64::new(0),
            validation,
        }
    }

    /// A codec over a key list: `current` signs, older ids verify until `previous_until` (epoch seconds),
    /// newer ones (loaded for a rotation) verify. `None` when the list lacks `current`.
    pub fn ring(keys: &[(u32, [u8; KEY_LEN])], current: u32, previous_until: i64) -> Option<Self> {
        let (_, signing) = keys.iter().find(|(id, _)| *id == current)?;
        let codec = Self::from_key(signing);
        codec
            .replace(keys, current, previous_until)
            .then_some(codec)
    }

    /// Replaces the keys while running (as [`ring`](Self::ring)); `false`, changing nothing, when the list
    /// lacks `current`.
    pub fn replace(
        &self,
        keys: &[(u32, [u8; KEY_LEN])],
        current: u32,
        previous_until: i64,
    ) -> bool {
        let Some((_, signing)) = keys.iter().find(|(id, _)| *id == current) else {
            return false;
        };
        let keys = keys
            .iter()
            .map(|(id, key)| {
                // an older key verifies until its grace ends; a newer one (loaded for a rotation, not yet
                // used here) without limit: another pod may sign with it before this one is promoted
                let until = (*id < current).then_some(previous_until);
                (kid_of(key), (KeySet::new(key), until))
            })
            .collect();
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(CodecKeys {
            current: kid_of(signing),
            keys,
        });
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        true
    }

    /// Which keys are in force: changes with every replacement.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn keys(&self) -> std::sync::Arc<CodecKeys> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The keys in force.
    pub fn in_force(&self) -> Vec<KeyInForce> {
        let keys = self.keys();
        let mut out: Vec<KeyInForce> = keys
            .keys
            .iter()
            .map(|(kid, (_, until))| KeyInForce {
                kid: kid.clone(),
                signs: *kid == keys.current,
                verifies_until: *until,
            })
            .collect();
        out.sort_by(|a, b| (!a.signs, &a.kid).cmp(&(!b.signs, &b.kid)));
        out
    }

    /// Mints a token for `snapshot` in refresh family `family`, valid for `validity_secs` from `now_secs`.
    pub fn mint(
        &self,
        snapshot: &Snapshot,
        family: &str,
        now_secs: i64,
        validity_secs: i64,
    ) -> Result<Minted, TokenError> {
        let in_force = self.keys();
        let (keys, _) = &in_force.keys[&in_force.current];
        let jti = uuid::Uuid::new_v4().to_string();
        let exp = now_secs + validity_secs;
        let plain = zeroize::Zeroizing::new(
            Packed::new(snapshot, &jti, family)
                .to_bytes()
                .ok_or(TokenError::Mint)?,
        );
        let sealed = keys
            .sealer
            .seal(&plain, &packed_aad(exp))
            .map_err(|_| TokenError::Mint)?;
        let s = URL_SAFE_NO_PAD.encode(sealed);
        let mut header = Header::new(Algorithm::HS256);
        header.typ = None;
        header.kid = Some(in_force.current.clone());
        let token = jsonwebtoken::encode(&header, &Claims { exp, s: &s }, &keys.encoding)
            .map_err(|_| TokenError::Mint)?;
        Ok(Minted {
            token,
            jti,
            expires_at: exp,
        })
    }

    /// Verifies `token` at `now_secs` and opens its snapshot.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        // read before the keys: a replacement meanwhile makes the result verified again, never stale
        let generation = self.generation();
        let in_force = self.keys();
        let (keys, until) = header
            .kid
            .as_deref()
            .and_then(|kid| in_force.keys.get(kid))
            .ok_or(TokenError::Invalid)?;
        // a previous key past its grace verifies nothing any more
        if until.is_some_and(|until| now_secs >= until) {
            return Err(TokenError::Invalid);
        }
        let data = jsonwebtoken::decode::<AnyClaims>(token, &keys.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        let exp = claims.exp;
        if now_secs >= exp {
            return Err(TokenError::Expired);
        }
        let (snapshot, jti, family) = match claims.s.as_deref() {
            Some(s) => {
                let plain = open(&keys.sealer, s, &packed_aad(claims.exp))?;
                Packed::from_bytes(&plain)
                    .ok_or(TokenError::Invalid)?
                    .unpack()
            }
            None => first_form(&keys.sealer, claims)?,
        };
        Ok(Verified {
            jti,
            family,
            expires_at: exp,
            snapshot,
            key_until: *until,
            keys: generation,
            details: std::sync::OnceLock::new(),
        })
    }
}

/// Opens a sealed claim (base64url).
fn open(
    sealer: &Keyring,
    claim: &str,
    aad: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, TokenError> {
    let sealed = URL_SAFE_NO_PAD
        .decode(claim)
        .map_err(|_| TokenError::Invalid)?;
    sealer
        .open(&sealed, aad)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| TokenError::Invalid)
}

/// The snapshot, id and family of a token of the first form: `snap` sealed JSON under the token's id,
/// `sub` and `typ` matching it.
fn first_form(
    sealer: &Keyring,
    claims: AnyClaims,
) -> Result<(Snapshot, String, String), TokenError> {
    let (Some(sub), Some(jti), Some(fam), Some(typ), Some(snap)) =
        (claims.sub, claims.jti, claims.fam, claims.typ, claims.snap)
    else {
        return Err(TokenError::Invalid);
    };
    let plain = open(sealer, &snap, jti.as_bytes())?;
    let snapshot: Snapshot = serde_json::from_slice(&plain).map_err(|_| TokenError::Invalid)?;
    if snapshot.uuid != sub || snapshot.user_type != typ {
        return Err(TokenError::Invalid);
    }
    Ok((snapshot, jti, fam))
}

#[cfg(test)]
mod tests;
