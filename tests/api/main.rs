//! Black-box API tests: the service on real sockets, through its public surface.

mod abuse;
mod audit;
mod backup;
mod bad_input;
mod clients;
mod create;
mod durability;
mod framing;
mod helpers;
mod listeners;
mod login;
mod messages;
mod mgramseva;
mod otp_limits;
mod otp_send;
mod otp_store;
mod password;
mod privacy;
mod process;
mod process_login;
mod search;
mod security;
mod sessions;
mod tenants;
mod uniform;
mod update;
