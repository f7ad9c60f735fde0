//! Gatehouse as the relying party of guests' home identity providers (partner IdPs): the
//! HTTP client used toward them (no redirects followed, short timeouts) and their discovery
//! documents and keys, cached and kept when a refresh fails ("last good").

pub mod guard;
pub mod oidc;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;

/// How long discovery (with its JWKS) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);
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
        Box::pin(async move {
            guard::check_url(&request.uri().to_string(), self.allow_private)
                .map_err(openidconnect::HttpClientError::Other)?;
            self.http.call(request).await
        })
    }
}

/// The upstream side's shared services.
pub struct Federation {
    http: GuardedHttp,
    metadata: RwLock<HashMap<String, (CoreProviderMetadata, Instant)>>,
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
    ) -> Result<CoreProviderMetadata, UpstreamError> {
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
        match CoreProviderMetadata::discover_async(url, &self.http).await {
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
}
