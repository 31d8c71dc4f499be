//! The HTTP boundary: DIGIT's wire JSON in and out, one error type, the route table of both listeners
//! ([`endpoints`]).

pub mod account;
pub mod admin;
pub mod audit;
pub mod client_ip;
pub mod cluster;
pub mod correlation;
pub mod dates;
pub mod endpoints;
pub mod error;
pub mod forward;
pub mod health;
pub mod import;
pub mod json;
pub mod keys;
pub mod oauth;
pub mod openapi;
pub mod otp;
#[cfg(test)]
mod props;
pub mod request_info;
pub mod route;
pub mod search;
pub mod sessions;
pub mod state;
pub mod uniform;
pub mod user_json;
pub mod users;
