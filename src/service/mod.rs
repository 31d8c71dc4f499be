//! The use cases, free of HTTP: what a handler, the command line or a test calls. Each returns its own error
//! type; `http/error.rs` renders them in DIGIT's shapes.
//!
//! - `account`: a user's own account — citizen registration, password changes — and an admin update's effects.
//! - `registry`: users — create, admin and profile updates, search.
//! - `owned`: the users of the partitions this pod serves (a store also holds copies of others).
//! - `otp`: user-otp's `_send` and egov-otp's create, validate and search.
//! - `login`: password and refresh grants, credential checks inside the lockout actors, password storage.
//! - `sessions`: refresh families, rotation, revocation, access-token verification.
//! - `tokens`: the access-token format (JWT with a sealed user snapshot).

pub mod account;
pub mod audit;
pub mod audit_feed;
pub mod bulk;
pub mod import;
pub mod keys;
pub mod login;
pub mod otp;
pub mod owned;
pub mod privacy;
pub mod registry;
pub mod sessions;
pub mod tally;
pub mod tokens;
