//! digit-user's domain: types and pure policies, the actors, the sled store and sealing.
//!
//! This crate has no HTTP and no Kafka in it, so it builds and tests fast. The service crate (`src/`) turns
//! DIGIT's wire JSON into these types and these results back into DIGIT's JSON.

#![warn(missing_docs)]

pub mod clock;
pub mod directory;
pub mod domain;
pub mod hasher;
pub mod homes;
pub mod lockout;
pub mod metrics;
pub mod notifier;
pub mod otp_session;
pub mod partition;
pub mod router;
pub mod seal;
pub mod sink;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use clock::Clock;
