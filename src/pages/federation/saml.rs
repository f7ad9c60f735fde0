//! Signing a guest in at a partner SAML 2.0 IdP, with samael as the service provider
//! (SECURITY.md G and the SP-side SAML checks): the AuthnRequest goes out by HTTP-Redirect,
//! signed (RSA-SHA256) with the tenant's SAML key whose certificates the SP metadata lists,
//! with a 128-bit ID and an opaque single-use RelayState bound to the browser's transaction
//! and the partner; the Response comes back by HTTP-POST to the tenant's ACS and must carry
//! no DOCTYPE and no comments, be signed (Response or Assertion) with an RSA/ECDSA SHA-256+
//! signature and digest by a certificate of the partner's metadata (fetched again once when a
//! signature fails, for certificate rollover), be one strictly well-formed `samlp:Response`
//! with every name in its namespace ([`crate::saml::strict`]), answer that request (InResponseTo), be
//! addressed to the ACS (Destination, Recipient) and to this SP (a required
//! AudienceRestriction), be within its time windows, and carry an assertion ID not seen
//! before (a replay cache in the ephemeral store, failing closed). Only xmlsec-verified
//! content is read (samael reduces the document to what the signature covers, which defeats
//! signature wrapping). The guest's identity is (entityID, persistent NameID); an address
//! counts as verified only in a domain this partner serves (the IdP is authoritative there).
//!
//! The ACS is a cross-site POST that carries no `SameSite=Lax` cookie, so it verifies the
//! response and then sends the browser, by a top-level GET that does carry it, to
//! `…/federation/saml/continue`, where the transaction's browser binding is checked.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use samael::crypto::AllowedSignatureAlgorithm;
use samael::schema::Assertion;
use samael::service_provider::{Error as SpError, ServiceProvider};
use serde::{Deserialize, Serialize};

use super::{
    SKEW_SECONDS, expired, refused, resume, take_once, unreachable_page, waiting_transaction,
};
use crate::domain::partner::PartnerIdp;
use crate::domain::saml::NAMEID_PERSISTENT;
use crate::domain::tenant::Tenant;
use crate::ephemeral::Json;
use crate::pages::{Transaction, Upstream, see_other};
use crate::samlxml::metadata::BINDING_POST;
use crate::samlxml::xml::{XmlOut, decode_post};
use crate::services::AppState;
use crate::upstream::UpstreamError;
use crate::web::error::{AppError, ErrorPage};

/// How long the browser may take at the partner IdP.
const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long a verified answer waits for the browser's GET to the continue URL.
const VERIFIED_TTL: Duration = Duration::from_secs(120);
/// Clock skew allowed against the IdP.
/// How old a Response / Assertion IssueInstant may be.
const MAX_ISSUE_DELAY_SECONDS: i64 = 180;
/// Signature algorithms accepted (SHA-1 and anything weaker are refused; digests follow).
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];
/// Attribute names that carry an e-mail address.
const EMAIL_ATTRIBUTES: [&str; 4] = [
    "mail",
    "email",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
];
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

use crate::samlxml::metadata::IdpMetadata;

/// The SP entityID of a tenant toward its SAML partners: the URL of its SP metadata.
pub fn sp_entity_id(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/federation/saml/metadata", state.issuer(&tenant.slug))
}

/// The tenant's AssertionConsumerService (HTTP-POST).
pub fn acs_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/federation/saml/acs", state.issuer(&tenant.slug))
}

fn service_provider(state: &AppState, tenant: &Tenant, idp: &IdpMetadata) -> ServiceProvider {
    ServiceProvider {
        entity_id: Some(sp_entity_id(state, tenant)),
        metadata_url: Some(sp_entity_id(state, tenant)),
        acs_url: Some(acs_url(state, tenant)),
        slo_url: None,
        idp_metadata: idp.descriptor.clone(),
        authn_name_id_format: Some(NAMEID_PERSISTENT.to_owned()),
        allow_idp_initiated: false,
        max_issue_delay: chrono::Duration::seconds(MAX_ISSUE_DELAY_SECONDS),
        max_clock_skew: chrono::Duration::seconds(SKEW_SECONDS),
        allowed_signature_algorithms: Some(ALGORITHMS.to_vec()),
        ..ServiceProvider::default()
    }
}

/// `GET {issuer}/federation/saml/metadata`: the tenant's SP metadata for its SAML partners.
pub async fn get_metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let entity_id = sp_entity_id(&state, &tenant);
    let acs = acs_url(&state, &tenant);
    let mut out = XmlOut::document();
    out.open(
        "md:EntityDescriptor",
        &[
            ("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata"),
            ("xmlns:ds", "http://www.w3.org/2000/09/xmldsig#"),
            ("entityID", &entity_id),
        ],
    )
    .open(
        "md:SPSSODescriptor",
        &[
            ("protocolSupportEnumeration", PROTOCOL),
            ("AuthnRequestsSigned", "true"),
            ("WantAssertionsSigned", "true"),
        ],
    );
    // Every published certificate: the next key is listed before it signs requests.
    crate::samlxml::metadata::signing_key_descriptors(
        &mut out,
        &state.keys.saml_certificates(crate::domain::unix_now()),
    );
    out.leaf("md:NameIDFormat", &[], NAMEID_PERSISTENT)
        .empty(
            "md:AssertionConsumerService",
            &[
                ("Binding", BINDING_POST),
                ("Location", &acs),
                ("index", "0"),
            ],
        )
        .close("md:SPSSODescriptor")
        .close("md:EntityDescriptor");
    Ok((
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        out.finish(),
    )
        .into_response())
}

/// What is remembered of a SAML sign-in at a partner, under `fedsaml:{RelayState}`.
#[derive(Debug, Serialize, Deserialize)]
struct FlowState {
    tenant_id: String,
    transaction: String,
    partner_id: String,
    request_id: String,
    started_at: i64,
    fresh_login: bool,
    max_age: Option<i64>,
}

/// A verified answer waiting for the browser, under `fedsaml-ok:{handle}`.
#[derive(Debug, Serialize, Deserialize)]
struct Verified {
    tenant_id: String,
    transaction: String,
    partner_id: String,
    upstream: Upstream,
}

fn flow_key(relay_state: &str) -> String {
    format!("fedsaml:{}", crate::secrets::hash_secret(relay_state))
}

fn verified_key(handle: &str) -> String {
    format!("fedsaml-ok:{}", crate::secrets::hash_secret(handle))
}

async fn current_metadata(
    state: &AppState,
    partner: &PartnerIdp,
    refresh: bool,
) -> Result<IdpMetadata, UpstreamError> {
    let xml = state
        .federation
        .saml_metadata(partner, refresh, |xml| {
            IdpMetadata::parse(xml, Some(&partner.issuer))
                .map(|_| ())
                .map_err(|e| e.0)
        })
        .await;
    IdpMetadata::parse(&xml, Some(&partner.issuer)).map_err(|e| {
        UpstreamError(format!(
            "the metadata of SAML partner {} is unusable: {}",
            partner.id, e.0
        ))
    })
}

/// Parks the transaction and sends the browser to sign in at the SAML `partner`.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    transaction: Transaction,
    partner: &PartnerIdp,
    _login_hint: &str,
) -> Result<Response, AppError> {
    let idp = current_metadata(state, partner, false)
        .await
        .map_err(unreachable_page)?;
    let demands = transaction.request.requirements();
    let mut sp = service_provider(state, tenant, &idp);
    sp.force_authn = demands.fresh_login || demands.max_age == Some(0);
    let mut request = sp
        .make_authentication_request(&idp.sso_url)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("AuthnRequest: {e}")))?;
    // samael's own IDs carry 32 random bits; InResponseTo binding wants unguessable ones.
    request.id = format!("_{}", crate::secrets::random_token(16));
    let relay_state = crate::secrets::random_token(24);
    // Signed with the tenant's active SAML key (RSA-SHA256 over the query, SAML Bindings
    // §3.4.4.1), whose certificate the SP metadata publishes: IdPs that want signed requests
    // (WantAuthnRequestsSigned) accept them, the others ignore the signature.
    let key = state
        .keys
        .saml_signing_key(crate::domain::unix_now())
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("no active RSA key with a certificate"))
        })?;
    let private = openssl::pkey::PKey::private_key_from_der(&key.private_der)
        .map_err(|e| AppError::Internal(e.into()))?;
    let url = request
        .signed_redirect(&relay_state, &private)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("AuthnRequest encoding: {e}")))?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AuthnRequest without destination")))?;
    Json(state.ephemeral.as_ref())
        .put(
            &flow_key(&relay_state),
            &FlowState {
                tenant_id: tenant.id.clone(),
                transaction: transaction.id.clone(),
                partner_id: partner.id.clone(),
                request_id: request.id.clone(),
                started_at: crate::domain::unix_now(),
                fresh_login: demands.fresh_login,
                max_age: demands.max_age,
            },
            FLOW_TTL,
        )
        .await?;
    super::send_away(state, tenant, transaction, partner, url.as_str()).await
}

/// The ACS form (HTTP-POST binding).
#[derive(Debug, Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn unverifiable() -> AppError {
    refused("error-upstream-unverified")
}

/// `POST {issuer}/federation/saml/acs`: the partner's Response.
pub async fn post_acs(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let form: AcsForm = crate::web::parse_form(&body)?;
    // An unsolicited response (no RelayState of ours) is refused: IdP-initiated sign-in to
    // Gatehouse is not offered.
    let flow: FlowState = take_once(&state, form.relay_state.as_deref(), flow_key).await?;
    if flow.tenant_id != tenant.id {
        return Err(expired());
    }
    let Some(partner) = state
        .directory
        .partner(&tenant.id, &flow.partner_id)
        .await?
    else {
        return Err(expired());
    };
    let encoded = form.saml_response.ok_or_else(|| {
        AppError::from(ErrorPage::bad_request(
            "error-no-answer-title",
            crate::i18n::Text::new("error-no-answer"),
        ))
    })?;
    let upstream = verified_identity(&state, &tenant, &partner, &encoded, &flow).await?;
    let handle = crate::secrets::random_token(24);
    Json(state.ephemeral.as_ref())
        .put(
            &verified_key(&handle),
            &Verified {
                tenant_id: tenant.id.clone(),
                transaction: flow.transaction,
                partner_id: partner.id.clone(),
                upstream,
            },
            VERIFIED_TTL,
        )
        .await?;
    Ok(see_other(&format!(
        "{}/federation/saml/continue?handle={handle}",
        state.issuer(&tenant.slug)
    )))
}

/// The continue URL's query.
#[derive(Debug, Deserialize)]
pub struct ContinueQuery {
    handle: Option<String>,
}

/// `GET {issuer}/federation/saml/continue`: the browser, with its cookies, picks up the
/// verified answer; its transaction must be the one that went to the partner.
pub async fn get_continue(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<ContinueQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = crate::web::tenant(&state, &slug).await?;
    let verified: Verified = take_once(&state, query.handle.as_deref(), verified_key).await?;
    let (transaction, partner) = waiting_transaction(
        &state,
        &headers,
        &tenant,
        &verified.tenant_id,
        &verified.transaction,
        &verified.partner_id,
    )
    .await?;
    resume(
        &state,
        &headers,
        &tenant,
        transaction,
        &partner,
        verified.upstream,
    )
    .await
}

/// The top-level status of a response, read before verification only to word a refusal.
fn unverified_status(xml: &str) -> Option<String> {
    xml.parse::<samael::schema::Response>()
        .ok()
        .and_then(|r| r.status)
        .and_then(|s| s.status_code.value)
}

/// Verifies the Response and reads the guest's identity from its verified assertion.
async fn verified_identity(
    state: &AppState,
    tenant: &Tenant,
    partner: &PartnerIdp,
    encoded: &str,
    flow: &FlowState,
) -> Result<Upstream, AppError> {
    let failed = |what: &str| {
        tracing::warn!(tenant = %tenant.slug, partner = %partner.id, "SAML response refused: {what}");
        unverifiable()
    };
    let xml = decode_post(encoded).map_err(|e| failed(&e.to_string()))?;
    // Comments are refused outright: canonicalisation drops them from what is signed, and a
    // comment inside a NameID or attribute value is the classic truncation attack.
    if xml.contains("<!--") {
        return Err(failed("the response contains an XML comment"));
    }
    // One samlp:Response, nothing after it, every name in its namespace: samael's reader
    // matches local names, and what it reads must be what xmlsec verified.
    if let Err(malformed) = crate::saml::strict::check(&xml, crate::saml::strict::Root::Response) {
        return Err(failed(&malformed.to_string()));
    }
    if let Some(status) = unverified_status(&xml)
        && status != STATUS_SUCCESS
    {
        tracing::info!(tenant = %tenant.slug, partner = %partner.id, %status, "the partner SAML identity provider refused the sign-in");
        return Err(refused("error-upstream-refused"));
    }
    let idp = current_metadata(state, partner, false)
        .await
        .map_err(unreachable_page)?;
    let mut verdict = verify(state, tenant, &idp, &xml, &flow.request_id).await?;
    if matches!(verdict, Verdict::BadSignature) && partner.metadata_url.is_some() {
        // Perhaps the IdP rolled its certificate over: its metadata URL says.
        tracing::info!(partner = %partner.id, "SAML signature did not verify; fetching the partner's metadata again");
        let fresh = current_metadata(state, partner, true)
            .await
            .map_err(unreachable_page)?;
        verdict = verify(state, tenant, &fresh, &xml, &flow.request_id).await?;
    }
    let assertion = match verdict {
        Verdict::Verified(assertion) => *assertion,
        Verdict::BadSignature => return Err(failed("signature not verified")),
        Verdict::Refused(reason) => return Err(failed(&reason)),
    };
    let facts = read_assertion(&assertion, partner).map_err(|e| failed(&e))?;
    accept_once(state, partner, &assertion, facts.not_on_or_after, &failed).await?;
    let proof = super::UpstreamProof {
        subject: facts.name_id,
        email: facts.email,
        auth_time: facts.auth_time,
        methods: facts.class_ref.into_iter().collect(),
    };
    let demanded = super::Freshness {
        started_at: flow.started_at,
        fresh_login: flow.fresh_login,
        max_age: flow.max_age,
    };
    super::upstream(partner, proof, demanded).map_err(failed)
}

/// Accepts each assertion once (SAML Profiles §4.1.4.5), remembering it until it expires; the
/// replay cache failing refuses.
async fn accept_once(
    state: &AppState,
    partner: &PartnerIdp,
    assertion: &Assertion,
    not_on_or_after: Option<i64>,
    failed: &impl Fn(&str) -> AppError,
) -> Result<(), AppError> {
    let ttl = not_on_or_after
        .map(|t| t - crate::domain::unix_now() + SKEW_SECONDS)
        .unwrap_or(FLOW_TTL.as_secs() as i64)
        .clamp(60, 86_400);
    let replay_key = format!(
        "fedsaml-seen:{}",
        crate::secrets::hash_secret(&format!("{}\n{}", partner.issuer, assertion.id))
    );
    match state
        .ephemeral
        .put_if_absent(&replay_key, String::new(), Duration::from_secs(ttl as u64))
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(failed("assertion replayed")),
        Err(e) => {
            tracing::error!(error = %e, "replay cache unavailable; refusing the SAML response");
            return Err(ErrorPage::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "error-retry-title",
                crate::i18n::Text::new("error-retry"),
            )
            .into());
        }
    }
    Ok(())
}

/// samael's verdict on a response.
enum Verdict {
    /// The verified assertion.
    Verified(Box<Assertion>),
    /// No signature verified with the metadata's certificates (or an algorithm refused).
    BadSignature,
    /// Verified or not, refused for this reason.
    Refused(String),
}

/// Runs samael's verification (xmlsec, about a millisecond) on the blocking pool.
async fn verify(
    state: &AppState,
    tenant: &Tenant,
    idp: &IdpMetadata,
    xml: &str,
    request_id: &str,
) -> Result<Verdict, AppError> {
    let sp = service_provider(state, tenant, idp);
    let xml = xml.to_owned();
    let request_id = request_id.to_owned();
    tokio::task::spawn_blocking(move || {
        match sp.parse_xml_response(&xml, Some(&[request_id.as_str()])) {
            Ok(assertion) => Verdict::Verified(Box::new(assertion)),
            Err(SpError::FailedToValidateSignature) => Verdict::BadSignature,
            Err(e) => Verdict::Refused(e.to_string()),
        }
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("SAML verification task: {e}")))
}

/// What is read from a verified assertion.
#[derive(Debug, PartialEq, Eq)]
struct AssertionFacts {
    name_id: String,
    /// An address in a domain bound to the partner, verified (the IdP is authoritative
    /// there); else the first address asserted, unverified (shown to an administrator only).
    email: Option<(String, bool)>,
    auth_time: Option<i64>,
    class_ref: Option<String>,
    not_on_or_after: Option<i64>,
}

/// Reads the identity: a persistent NameID, an AudienceRestriction (samael checks the
/// audience only when one is present), the AuthnStatement, and an address in a domain the
/// partner serves.
fn read_assertion(assertion: &Assertion, partner: &PartnerIdp) -> Result<AssertionFacts, String> {
    let conditions = assertion
        .conditions
        .as_ref()
        .ok_or("the assertion has no Conditions")?;
    if conditions
        .audience_restrictions
        .as_ref()
        .is_none_or(|r| r.is_empty())
    {
        return Err("the assertion has no AudienceRestriction".to_owned());
    }
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .ok_or("the assertion has no NameID")?;
    if name_id.format.as_deref() != Some(NAMEID_PERSISTENT) {
        return Err(format!(
            "the NameID is not persistent ({}): a guest's identity must not change between sign-ins",
            name_id.format.as_deref().unwrap_or("no format")
        ));
    }
    let subject = name_id.value.trim();
    if subject.is_empty() || subject.len() > 256 {
        return Err("the persistent NameID is empty or longer than 256 characters".to_owned());
    }
    let statement = assertion
        .authn_statements
        .as_ref()
        .and_then(|s| s.first())
        .ok_or("the assertion has no AuthnStatement")?;
    let class_ref = statement
        .authn_context
        .as_ref()
        .and_then(|c| c.value.as_ref())
        .and_then(|c| c.value.clone());
    let addresses: Vec<String> = assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes)
        .filter(|a| {
            a.name
                .as_deref()
                .is_some_and(|n| EMAIL_ATTRIBUTES.contains(&n))
                || a.friendly_name
                    .as_deref()
                    .is_some_and(|n| EMAIL_ATTRIBUTES.contains(&n))
        })
        .flat_map(|a| &a.values)
        .filter_map(|v| v.value.as_deref())
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    // The IdP is authoritative only for the domains bound to it.
    let asserted = addresses.first().cloned();
    let email = addresses
        .into_iter()
        .find(|address| {
            address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && partner.domains.iter().any(|d| d.domain == domain)
            })
        })
        .map(|email| (email, true))
        .or(asserted.map(|email| (email, false)));
    Ok(AssertionFacts {
        name_id: subject.to_owned(),
        email,
        auth_time: statement.authn_instant.map(|t| t.timestamp()),
        class_ref,
        not_on_or_after: conditions.not_on_or_after.map(|t| t.timestamp()),
    })
}
