//! Domain types and pure policies of the user registry. Nothing here does I/O or reads a clock.

pub mod audit;
pub mod enums;
pub mod lockout;
pub mod masking;
pub mod messages;
pub mod mobile;
pub mod notification;
pub mod otp;
pub mod password;
pub mod roles;
pub mod rules;
pub mod search;
pub mod strangers;
pub mod tally;
pub mod tenant;
pub mod update;
pub mod user;
pub mod velocity;

pub use enums::{BloodGroup, Gender, Relationship, UserType};
pub use tenant::{KnownStates, TenantId};
pub use user::{Address, Role, UserRecord};
