//! The client side toward guests' home identity providers (partner IdPs): the HTTP client
//! used toward them (no redirects followed, short timeouts, public addresses only) and their
//! discovery documents, keys and SAML metadata, cached and kept when a refresh fails ("last
//! good"). Infrastructure (tier 1): the federation front door and the services use it.

pub mod guard;
pub mod jwk;
#[cfg(test)]
mod tls_tests;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::domain::partner::PartnerIdp;

/// The discovery fields Gatehouse reads beyond the core ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PartnerDiscoveryExtras {
    /// RFC 9207: the IdP sends `iss` in authorization responses (then it must be there).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for PartnerDiscoveryExtras {}

/// A partner OIDC provider's discovery document, with [`PartnerDiscoveryExtras`]; its keys
/// (the JWKS) are [`jwk::PartnerJwk`]s, verified with OpenSSL.
pub type PartnerMetadata = ProviderMetadata<
    PartnerDiscoveryExtras,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    jwk::PartnerJwk,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The partner's `token_endpoint_auth_methods_supported`, if its discovery lists them.
pub fn token_auth_methods(metadata: &PartnerMetadata) -> Option<Vec<String>> {
    metadata
        .token_endpoint_auth_methods_supported()
        .map(|methods| methods.iter().map(|m| m.as_ref().to_owned()).collect())
}

/// How long discovery (with its JWKS) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// The least time between two metadata refetches forced by failed signatures, per partner.
const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Time allowed for any request to an upstream IdP.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why talking to an upstream IdP failed (the message names the IdP step, never a secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UpstreamError(pub String);

/// The HTTP client toward partner IdPs, refusing non-public addresses unless allowed.
#[derive(Debug, Clone)]
pub struct GuardedHttp {
    http: reqwest::Client,
    allow_private: bool,
}

impl<'c> openidconnect::AsyncHttpClient<'c> for GuardedHttp {
    type Error = openidconnect::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, Self::Error>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        let span = upstream_span(request.method().as_str(), &request.uri().to_string());
        Box::pin(
            async move {
                guard::check_url(&request.uri().to_string(), self.allow_private)
                    .map_err(openidconnect::HttpClientError::Other)?;
                let response = self.http.call(request).await;
                if let Ok(response) = &response {
                    tracing::Span::current()
                        .record("http.response.status_code", response.status().as_u16());
                }
                response
            }
            .instrument(span),
        )
    }
}

/// The trace span of one call to a partner IdP: `GET https://idp.example/path` (never the
/// query, which may carry state).
fn upstream_span(method: &str, url: &str) -> tracing::Span {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    tracing::debug_span!(
        "upstream",
        otel.name = %format_args!("{method} {url}"),
        otel.kind = "client",
        http.request.method = %method,
        url.full = %url,
        http.response.status_code = tracing::field::Empty,
    )
}

/// The upstream side's shared services.
pub struct Federation {
    http: GuardedHttp,
    metadata: RwLock<HashMap<String, (PartnerMetadata, Instant)>>,
    /// SAML partners' metadata fetched from their metadata URL, by partner id.
    saml_metadata: RwLock<HashMap<String, (String, Instant)>>,
    /// When a failed signature last forced a metadata refetch, by partner id.
    forced_refetch: std::sync::Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

impl Federation {
    /// A client that follows no redirects (SSRF, RFC 9700 §4.11), gives up after 5 s and,
    /// unless `allow_private_networks`, reaches only public addresses ([`guard`]).
    pub fn new(allow_private_networks: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(UPSTREAM_TIMEOUT)
            .connect_timeout(UPSTREAM_TIMEOUT)
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")));
        if !allow_private_networks {
            builder = builder.dns_resolver(std::sync::Arc::new(guard::PublicResolver));
        }
        Ok(Self {
            http: GuardedHttp {
                http: builder.build()?,
                allow_private: allow_private_networks,
            },
            metadata: RwLock::default(),
            saml_metadata: RwLock::default(),
            forced_refetch: std::sync::Mutex::default(),
        })
    }

    /// The HTTP client toward upstream IdPs.
    pub fn http(&self) -> &GuardedHttp {
        &self.http
    }

    /// Where a browser may be sent for `issuer` (for the redemption page's CSP `form-action`,
    /// which browsers apply to the redirect after a form): its issuer URL and, when discovery
    /// is cached, its authorization endpoint. Never fetches.
    pub fn browser_targets(&self, issuer: &str) -> Vec<String> {
        let mut targets = vec![issuer.to_owned()];
        if let Some((metadata, _)) = self
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(issuer)
        {
            targets.push(metadata.authorization_endpoint().url().to_string());
        }
        targets
    }

    /// The IdP's discovery document and keys: cached for ten minutes, fetched again when
    /// `refresh` (a signature did not verify with the cached keys); when fetching fails the
    /// last good copy is used.
    pub async fn metadata(
        &self,
        issuer: &str,
        refresh: bool,
    ) -> Result<PartnerMetadata, UpstreamError> {
        let cached = self
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(issuer)
            .cloned();
        if let Some((metadata, at)) = &cached
            && !refresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let url = IssuerUrl::new(issuer.to_owned())
            .map_err(|_| UpstreamError(format!("{issuer} is not a valid issuer URL")))?;
        if let Err(e) = guard::check_url(issuer, self.http.allow_private) {
            return Err(UpstreamError(e));
        }
        match PartnerMetadata::discover_async(url, &self.http).await {
            Ok(metadata) => {
                self.metadata
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(issuer.to_owned(), (metadata.clone(), Instant::now()));
                Ok(metadata)
            }
            Err(e) => match cached {
                Some((metadata, _)) => {
                    tracing::warn!(%issuer, error = %e, "upstream discovery failed; using the last good copy");
                    Ok(metadata)
                }
                None => Err(UpstreamError(format!(
                    "the identity provider {issuer} cannot be reached: {e}"
                ))),
            },
        }
    }

    /// POSTs a form to `url` through the guarded client (5 s, no redirects, public addresses
    /// only unless allowed) and returns the response status: an app's back-channel logout
    /// endpoint. The response body is not read.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, UpstreamError> {
        async {
            guard::check_url(url, self.http.allow_private).map_err(UpstreamError)?;
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let response = self
                .http
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map_err(|e| UpstreamError(format!("{url} cannot be reached: {e}")))?;
            let status = response.status().as_u16();
            tracing::Span::current().record("http.response.status_code", status);
            Ok(status)
        }
        .instrument(upstream_span("POST", url))
        .await
    }

    /// GETs a document (SAML metadata) from `url` through the guarded client: 5 s, no
    /// redirects, public addresses only unless allowed, at most 1 MiB.
    pub async fn fetch_document(&self, url: &str) -> Result<String, UpstreamError> {
        self.fetch_document_unspanned(url)
            .instrument(upstream_span("GET", url))
            .await
    }

    async fn fetch_document_unspanned(&self, url: &str) -> Result<String, UpstreamError> {
        guard::check_url(url, self.http.allow_private).map_err(UpstreamError)?;
        let failed = |e: String| UpstreamError(format!("{url} cannot be fetched: {e}"));
        let response = self
            .http
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        tracing::Span::current().record("http.response.status_code", response.status().as_u16());
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        const LIMIT: usize = 1024 * 1024;
        if response
            .content_length()
            .is_some_and(|length| length > LIMIT as u64)
        {
            return Err(failed("larger than 1 MiB".to_owned()));
        }
        // Read chunk by chunk so that a body without (or lying about) its length stops at
        // the limit instead of being buffered whole.
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            if body.len() + chunk.len() > LIMIT {
                return Err(failed("larger than 1 MiB".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| failed("not UTF-8".to_owned()))
    }

    /// A SAML partner's metadata: the copy registered with it, or, when it has a metadata
    /// URL (certificate rollover), the URL's current copy — cached ten minutes, fetched again
    /// when `refresh` (a signature did not verify), the last good copy used when fetching or
    /// parsing fails. Forced refetches happen at most once per [`FORCED_REFETCH_INTERVAL`]
    /// per partner, so a stream of forged responses cannot turn Gatehouse into a fetch loop
    /// against the partner's metadata URL. A fetched copy is kept only when `check` (the
    /// metadata's own validation, by the SAML side) accepts it.
    pub async fn saml_metadata(
        &self,
        partner: &PartnerIdp,
        refresh: bool,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> String {
        let registered = partner.metadata_xml.clone().unwrap_or_default();
        let Some(url) = &partner.metadata_url else {
            return registered;
        };
        let refresh = refresh && self.may_force_refetch(&partner.id);
        let cached = self
            .saml_metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&partner.id)
            .cloned();
        if let Some((xml, at)) = &cached
            && !refresh
            && at.elapsed() < METADATA_TTL
        {
            return xml.clone();
        }
        let fetched = match self.fetch_document(url).await {
            Ok(xml) => check(&xml).map(|()| xml).map_err(UpstreamError),
            Err(e) => Err(e),
        };
        match fetched {
            Ok(xml) => {
                self.saml_metadata
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(partner.id.clone(), (xml.clone(), Instant::now()));
                xml
            }
            Err(e) => {
                tracing::warn!(partner = %partner.id, error = %e, "SAML metadata refresh failed; using the last good copy");
                cached.map(|(xml, _)| xml).unwrap_or(registered)
            }
        }
    }

    /// Drops what is cached of a partner (its fetched SAML metadata), after an administrator
    /// changed it.
    pub fn forget(&self, partner_id: &str) {
        self.saml_metadata
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(partner_id);
    }

    /// Whether a failed signature may refetch `partner_id`'s metadata now (and, if so, notes
    /// that it did).
    fn may_force_refetch(&self, partner_id: &str) -> bool {
        let mut last = self
            .forced_refetch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last
            .get(partner_id)
            .is_some_and(|at| now.duration_since(*at) < FORCED_REFETCH_INTERVAL)
        {
            tracing::debug!(partner = %partner_id, "metadata refetch skipped: one was forced less than a minute ago");
            return false;
        }
        last.insert(partner_id.to_owned(), now);
        true
    }
}
