//! What the browser still has to do after its session ended: visit each other SAML SP's
//! single-logout endpoint in turn (SAML Profiles §4.4.3.3, the IdP propagating a logout),
//! then show the front-channel logout iframes and go where the sign-out was asked to end (a
//! post-logout redirect, the initiating SP's LogoutResponse, or the signed-out page). The
//! chain is kept in the ephemeral store between the browser's hops, under a random handle
//! that travels as `RelayState`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Ended;
use crate::ephemeral::Json;
use crate::services::{Result, Services};

/// How long a browser has to come back from an SP.
const TTL: Duration = Duration::from_secs(600);

/// A SAML SP still to be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloTarget {
    /// Its entity id.
    pub entity_id: String,
    /// Its single-logout endpoint (HTTP-Redirect binding).
    pub slo_url: String,
    /// The NameID it received.
    pub name_id: String,
    /// That NameID's format URI.
    pub name_id_format: String,
    /// The `SessionIndex` it received.
    pub session_index: String,
}

/// Where the sign-out ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    /// A registered post-logout redirect (with `state`), or the signed-out page.
    Redirect(Option<String>),
    /// A LogoutResponse to the SP that asked for the logout.
    SamlResponse {
        /// The SP's single-logout endpoint.
        slo_url: String,
        /// The ID of its LogoutRequest.
        in_response_to: String,
        /// The status to answer.
        status: String,
        /// Its `RelayState`.
        relay_state: Option<String>,
    },
}

/// The rest of a sign-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// Tenant.
    pub tenant_id: String,
    /// SPs still to be told, in order.
    pub pending: Vec<SloTarget>,
    /// The SP told last and the ID of the LogoutRequest it was sent, until it answers.
    pub awaiting: Option<(String, String)>,
    /// Front-channel logout URIs to load in iframes on the last page.
    pub frames: Vec<String>,
    /// Where it ends.
    pub finish: Finish,
}

impl Chain {
    /// The rest of the sign-out of `ended`: every SAML SP of the session with a single-logout
    /// endpoint except the app `except` (the one that asked), and every front-channel logout
    /// URI (with `iss` and `sid` when the app requires them).
    pub fn of(issuer: &str, ended: &Ended, except: Option<&str>, finish: Finish) -> Self {
        let mut pending = Vec::new();
        let mut frames = Vec::new();
        for app in &ended.apps {
            let logout = &app.app.profile.logout;
            if let Some(uri) = &logout.frontchannel_uri {
                frames.push(frame_url(
                    uri,
                    logout.frontchannel_session_required,
                    issuer,
                    &ended.session_id,
                ));
            }
            if except == Some(app.app.id.as_str()) {
                continue;
            }
            let Some(sp) = &app.app.saml else { continue };
            let (Some(slo_url), Some(name_id)) = (&sp.slo_url, &app.record.name_id) else {
                continue;
            };
            pending.push(SloTarget {
                entity_id: sp.entity_id.clone(),
                slo_url: slo_url.clone(),
                name_id: name_id.clone(),
                name_id_format: app.record.name_id_format.clone().unwrap_or_default(),
                session_index: app
                    .record
                    .session_index
                    .clone()
                    .unwrap_or_else(|| ended.session_id.clone()),
            });
        }
        Self {
            tenant_id: ended
                .apps
                .first()
                .map(|a| a.record.tenant_id.clone())
                .unwrap_or_default(),
            pending,
            awaiting: None,
            frames,
            finish,
        }
    }

    /// Keeps the chain for the browser's next hop; the handle to find it by.
    pub async fn park(&self, services: &Services) -> Result<String> {
        let handle = crate::secrets::new_secret();
        Json(services.ephemeral.as_ref())
            .put(&key(&handle), self, TTL)
            .await?;
        Ok(handle)
    }

    /// The chain parked under `handle` (once).
    pub async fn resume(services: &Services, handle: &str) -> Result<Option<Self>> {
        if handle.is_empty() || handle.len() > 64 {
            return Ok(None);
        }
        let raw = services.ephemeral.take(&key(handle)).await?;
        Ok(raw.and_then(|raw| serde_json::from_str(&raw).ok()))
    }
}

fn key(handle: &str) -> String {
    format!("logout-chain:{}", crate::secrets::hash_secret(handle))
}

/// A front-channel logout URI, with `iss` and `sid` added when the app requires them
/// (Front-Channel Logout 1.0 §2).
pub fn frame_url(uri: &str, with_session: bool, issuer: &str, sid: &str) -> String {
    if !with_session {
        return uri.to_owned();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("iss", issuer)
        .append_pair("sid", sid)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::frame_url;

    #[test]
    fn front_channel_uris_get_iss_and_sid_only_when_the_app_asks() {
        assert_eq!(
            frame_url("https://rp.example/fc", false, "https://id.example/t", "s1"),
            "https://rp.example/fc"
        );
        assert_eq!(
            frame_url(
                "https://rp.example/fc?a=1",
                true,
                "https://id.example/t",
                "s 1"
            ),
            "https://rp.example/fc?a=1&iss=https%3A%2F%2Fid.example%2Ft&sid=s+1"
        );
    }
}
