//! Gatehouse: a multi-tenant OpenID Connect provider and SAML 2.0 identity provider for
//! business-to-business collaboration.
//!
//! The crate is a library with a thin binary (`src/main.rs`). [`startup::Application`] is the one
//! entry point both the binary and the integration tests use. Every sign-in, whatever protocol
//! started it, walks the shared [`journey`]; protocol modules ([`oidc`]) only translate requests
//! into journey transactions and journey outcomes back into protocol responses.

#![forbid(unsafe_code)]

pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod ephemeral;
pub mod graph;
pub mod health;
pub mod i18n;
pub mod keys;
mod layering;
pub mod mail;
pub mod monitoring;
pub mod oidc;
pub mod pages;
pub mod passwords;
pub mod policy;
pub mod saml;
pub mod samlxml;
pub mod secrets;
pub mod server;
pub mod services;
pub mod startup;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod tokens;
pub mod upstream;
pub mod web;

pub use config::Config;
pub use startup::Application;
