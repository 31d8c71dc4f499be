//! digit-user: DIGIT's egov-user, user-otp and egov-otp as one actor-based service.
//!
//! This crate is the service around the domain crate `actors`: configuration, secrets, the HTTP boundary
//! with DIGIT's wire JSON, start-up and ordered shutdown, and the command line.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod http;
pub mod import;
pub mod journal;
pub mod kafka;
pub mod observability;
pub mod secrets;
pub mod service;
pub mod startup;
pub mod telemetry;
