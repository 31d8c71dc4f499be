//! Moving a running DIGIT state's users in from egov-user's PostgreSQL (issue 19; README "Moving from
//! egov-user"). Built in steps; so far [`enc`]: egov-enc-service's ciphertexts — the users' PII as egov-user
//! stores it — read offline with the exported key table and the enc-service's master password; and
//! [`source`]: egov-user's tables read a batch at a time, PII opened; and [`map`]: each user as a record of
//! ours, or the reason it cannot be stored.

pub mod enc;
pub mod map;
pub mod source;
