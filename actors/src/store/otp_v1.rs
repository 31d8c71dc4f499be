//! The postcard layout of OTP session states written with tag 1, before live codes counted their SMS
//! (postcard is not self-describing, so a new field needs a new tag); read into today's state with every
//! code of `_send` counted as sent once.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::otp::{LiveCode, LiveCodes, OtpSessionState, Purpose};

#[derive(Deserialize)]
pub(crate) struct State {
    codes: BTreeMap<Purpose, Code>,
    sends: Vec<i64>,
    consumed: Vec<(uuid::Uuid, i64)>,
}

#[derive(Deserialize)]
struct Code {
    token_id: uuid::Uuid,
    nonce: [u8; 16],
    hash: [u8; 32],
    created_ms: i64,
    expires_ms: i64,
    tries_left: u8,
}

impl From<State> for OtpSessionState {
    fn from(old: State) -> Self {
        let mut codes = LiveCodes::default();
        for (purpose, c) in old.codes {
            codes.insert(
                purpose,
                LiveCode {
                    token_id: c.token_id,
                    nonce: c.nonce,
                    hash: c.hash,
                    created_ms: c.created_ms,
                    expires_ms: c.expires_ms,
                    tries_left: c.tries_left,
                    // a code of `_send` went out once; one of `_create` never goes out, and is never resent
                    sms_sent: u8::from(purpose != Purpose::Direct),
                },
            );
        }
        Self {
            codes,
            sends: old.sends,
            consumed: old.consumed,
        }
    }
}
