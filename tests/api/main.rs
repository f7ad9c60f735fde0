//! Integration tests: real nodes on loopback ports, driven over HTTP like browsers, relying
//! parties and resource servers would. One binary; each module covers one area and names the
//! SECURITY.md items it proves.

mod access;
mod admin_api;
mod app_lifecycle;
mod applications;
mod assignments;
mod authorize;
mod b2b;
mod backchannel;
mod bulk;
mod claims;
mod cli;
mod cli_apps;
mod cli_directory;
mod client_assertion;
mod cluster;
mod code_flow;
mod factors;
mod federation;
mod group_access;
mod groups;
mod helpers;
mod home;
mod invitations;
mod keys;
mod logout;
mod mfa;
mod operations;
mod pages;
mod partner_op;
mod pkce;
mod revocation;
mod saml;
mod saml_partner;
mod slo;
mod smtp;
mod token;
mod traces;
mod userinfo;
mod users_admin;
