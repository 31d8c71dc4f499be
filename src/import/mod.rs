//! Moving a running DIGIT state's users in from egov-user's PostgreSQL (issue 19; README "Moving from
//! egov-user"): [`enc`] reads egov-enc-service's ciphertexts — the users' PII as egov-user stores it —
//! offline with the key table and the enc-service's master settings; [`source`] reads egov-user's tables a
//! batch at a time, PII opened; [`map`] makes each user a record of ours, or says why it cannot be stored;
//! [`run`] is one pass (resumable, then deltas) keeping its [`progress`] beside the store, writing into
//! a stopped pod's store or through a running deployment ([`remote`]); [`verify`] compares the source with
//! what is stored. `digit-user admin import` (src/cli/import.rs) drives them.

pub mod enc;
pub mod map;
pub mod progress;
pub mod remote;
pub mod run;
pub mod source;
pub mod verify;
