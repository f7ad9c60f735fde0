//! SAML 2.0 XML without a protocol door: strict decoding of the HTTP-Redirect and HTTP-POST
//! bindings, a small XML writer, and the metadata of service providers and identity providers
//! (parsed and checked, and Gatehouse's own written). Tier 1: the SAML door, the federation
//! door and the directory administration all read metadata through it.

pub mod metadata;
pub mod xml;
