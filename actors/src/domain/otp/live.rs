//! `LiveCodes`: the live codes of one session, at most one per purpose.
//!
//! A session holds one or two codes, so a vector sorted by purpose beats a `BTreeMap` (whose first leaf is
//! a kilobyte: eleven slots of a ~100-byte `LiveCode`) — with 100,000 live sessions that difference is
//! 100 MB. On disk it is the same JSON object `{"register": {...}}` the map wrote, so stored sessions read
//! back unchanged.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{LiveCode, Purpose};

/// Live codes by purpose, sorted by purpose, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCodes(Vec<(Purpose, LiveCode)>);

impl LiveCodes {
    fn position(&self, purpose: Purpose) -> Result<usize, usize> {
        self.0.binary_search_by_key(&purpose, |(p, _)| *p)
    }

    /// The live code of `purpose`.
    pub fn get(&self, purpose: Purpose) -> Option<&LiveCode> {
        self.position(purpose).ok().map(|i| &self.0[i].1)
    }

    /// The live code of `purpose`, to change it.
    pub fn get_mut(&mut self, purpose: Purpose) -> Option<&mut LiveCode> {
        self.position(purpose).ok().map(|i| &mut self.0[i].1)
    }

    /// Sets the code of `purpose`, replacing one that was there.
    pub fn insert(&mut self, purpose: Purpose, code: LiveCode) {
        match self.position(purpose) {
            Ok(i) => self.0[i].1 = code,
            Err(i) => {
                // room for exactly what is held: most sessions hold one code all their life
                self.0.reserve_exact(1);
                self.0.insert(i, (purpose, code));
            }
        }
    }

    /// Takes the code of `purpose` out.
    pub fn remove(&mut self, purpose: Purpose) -> Option<LiveCode> {
        let i = self.position(purpose).ok()?;
        let (_, code) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(code)
    }

    /// Purposes and codes, in purpose order.
    pub fn iter(&self) -> impl Iterator<Item = (Purpose, &LiveCode)> {
        self.0.iter().map(|(p, c)| (*p, c))
    }

    /// The codes, in purpose order.
    pub fn values(&self) -> impl Iterator<Item = &LiveCode> {
        self.0.iter().map(|(_, c)| c)
    }

    /// Whether no code is live.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many codes are live.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for LiveCodes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (purpose, code) in &self.0 {
            map.serialize_entry(purpose, code)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LiveCodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Codes;
        impl<'de> Visitor<'de> for Codes {
            type Value = LiveCodes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("live codes by purpose")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<LiveCodes, A::Error> {
                let mut codes =
                    LiveCodes(Vec::with_capacity(access.size_hint().unwrap_or(0).min(4)));
                while let Some((purpose, code)) = access.next_entry::<Purpose, LiveCode>()? {
                    codes.insert(purpose, code);
                }
                Ok(codes)
            }
        }
        deserializer.deserialize_map(Codes)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn code(token: char, tries: u8) -> LiveCode {
        LiveCode {
            token_id: uuid::Uuid::from_bytes([token as u8; 16]),
            nonce: [7; 16],
            hash: [9; 32],
            created_ms: 1,
            expires_ms: 2,
            tries_left: tries,
            sms_sent: 1,
        }
    }

    #[test]
    fn stays_sorted_and_unique_by_purpose() {
        let mut codes = LiveCodes::default();
        codes.insert(Purpose::PasswordReset, code('c', 5));
        codes.insert(Purpose::Register, code('a', 5));
        codes.insert(Purpose::Login, code('b', 5));
        codes.insert(Purpose::Register, code('d', 3));
        let order: Vec<_> = codes
            .iter()
            .map(|(p, c)| (p, c.token_id.as_bytes()[0]))
            .collect();
        assert_eq!(
            order,
            [
                (Purpose::Register, b'd'),
                (Purpose::Login, b'b'),
                (Purpose::PasswordReset, b'c')
            ]
        );
        assert_eq!(
            codes.remove(Purpose::Login).unwrap().token_id.as_bytes()[0],
            b'b'
        );
        assert!(codes.get(Purpose::Login).is_none());
        codes.get_mut(Purpose::Register).unwrap().tries_left = 1;
        assert_eq!(codes.get(Purpose::Register).unwrap().tries_left, 1);
        assert_eq!(codes.len(), 2);
    }

    #[test]
    fn reads_and_writes_the_json_of_the_map_it_replaced() {
        let mut map = BTreeMap::new();
        map.insert(Purpose::Login, code('b', 4));
        map.insert(Purpose::Register, code('a', 5));
        let stored = serde_json::to_string(&map).unwrap();
        let codes: LiveCodes = serde_json::from_str(&stored).unwrap();
        assert_eq!(codes.get(Purpose::Login).unwrap().tries_left, 4);
        assert_eq!(
            codes.get(Purpose::Register).unwrap().token_id.as_bytes()[0],
            b'a'
        );
        assert_eq!(serde_json::to_string(&codes).unwrap(), stored);
    }

    #[test]
    fn one_code_costs_one_slot() {
        let mut codes = LiveCodes::default();
        codes.insert(Purpose::Register, code('a', 5));
        assert_eq!(codes.0.capacity(), 1);
    }
}
