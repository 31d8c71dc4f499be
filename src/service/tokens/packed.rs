//! What an access token carries besides its expiry, packed small. The gateway sends the token in the URL of
//! every request it checks, so its length is paid on every request (the URL parsed, the token hashed for the
//! verification cache). The first form carried its ids as JSON text and the user as sealed JSON, base64 inside
//! base64 (about 1 KB); this one packs the ids as 16 bytes each and the user as `postcard` binary, sealed
//! into one claim (about 480 characters for an employee with one role).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Snapshot;

/// An id as a token holds it: 16 bytes when it is a UUID in its canonical text, else the text (an id
/// moved in from another system keeps its exact text either way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Ident {
    Uuid(Uuid),
    Text(String),
}

impl Ident {
    pub fn of(text: &str) -> Self {
        match Uuid::try_parse(text) {
            Ok(u) if *u.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == *text => {
                Ident::Uuid(u)
            }
            _ => Ident::Text(text.to_owned()),
        }
    }

    pub fn into_text(self) -> String {
        match self {
            Ident::Uuid(u) => u.hyphenated().to_string(),
            Ident::Text(t) => t,
        }
    }
}

/// The sealed content of claim `s`: the token's id, its refresh family and the user of `/user/_details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packed {
    pub jti: Ident,
    pub fam: Ident,
    pub user: Snapshot,
}

impl Packed {
    pub fn new(snapshot: &Snapshot, jti: &str, family: &str) -> Self {
        Self {
            jti: Ident::of(jti),
            fam: Ident::of(family),
            user: snapshot.clone(),
        }
    }

    /// The snapshot, the token's id and its family.
    pub fn unpack(self) -> (Snapshot, String, String) {
        (self.user, self.jti.into_text(), self.fam.into_text())
    }

    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_exact_text() {
        for text in [
            "5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f70",
            // not canonical: kept as text, not re-written lower-case or hyphenated
            "5F0E2C1A-8D3B-4C7E-9F10-2B3C4D5E6F70",
            "5f0e2c1a8d3b4c7e9f102b3c4d5e6f70",
            "fam-1",
            "",
        ] {
            assert_eq!(Ident::of(text).into_text(), text);
        }
        assert!(matches!(
            Ident::of("5f0e2c1a-8d3b-4c7e-9f10-2b3c4d5e6f70"),
            Ident::Uuid(_)
        ));
    }
}
