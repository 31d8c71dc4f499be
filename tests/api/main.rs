//! Black-box API tests: the service on real sockets, through its public surface.

mod bad_input;
mod create;
mod helpers;
mod otp_send;
mod otp_store;
mod process;
mod search;
mod update;
