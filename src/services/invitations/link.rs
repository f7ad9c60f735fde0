//! The links of an invitation: where the guest may land after redeeming (checked against the
//! tenant's registered apps), and the redemption and block links, whose secrets are shown once
//! and stored only as digests.

use crate::domain::app::App;
use crate::domain::tenant::Tenant;
use crate::secrets;
use crate::services::{AppState, Error};

/// The My Apps page of a tenant: always an allowed redirect.
pub fn my_apps_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/myapps", state.issuer(&tenant.slug))
}

/// Checks `inviteRedirectUrl` against the tenant's registered app URLs (SECURITY.md H.64):
/// the My Apps page, or an http(s) URL on the origin of an app's registered redirect, logout,
/// ACS or home URL — compared as parsed origins, so `app.example.com.evil.com`,
/// `app.example.com@evil`, `//evil`, `/\evil` and `javascript:` never pass. Returns the app the
/// URL belongs to.
pub async fn check_redirect(
    state: &AppState,
    tenant: &Tenant,
    raw: &str,
    apps: &[App],
) -> Result<Option<App>, Error> {
    let refuse = || {
        Error::invalid(
            "inviteRedirectUrl must be the tenant's My Apps page or a URL of one of its registered apps",
        )
    };
    let url = url::Url::parse(raw).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host_str().is_none()
        || raw.contains('\\')
        || raw.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(refuse());
    }
    if raw == my_apps_url(state, tenant) {
        return Ok(None);
    }
    let origin = url.origin().ascii_serialization();
    apps.iter()
        .find(|app| app.registered_origins().contains(&origin))
        .cloned()
        .map(Some)
        .ok_or_else(refuse)
}

/// The links of one invitation: shown to the inviter and the guest once, stored as digests.
#[derive(Debug)]
pub struct Links {
    /// Where the guest redeems the invitation.
    pub redeem_url: String,
    /// Where the invitee asks for no more invitations.
    pub block_url: String,
    /// The digest of the redemption secret.
    pub token_hash: String,
    /// The digest of the block secret.
    pub block_token_hash: String,
}

impl Links {
    /// New random links on the tenant's issuer.
    pub fn new(state: &AppState, tenant: &Tenant) -> Self {
        let token = secrets::new_secret();
        let block_token = secrets::new_secret();
        let issuer = state.issuer(&tenant.slug);
        Self {
            redeem_url: format!("{issuer}/redeem?i={token}"),
            block_url: format!("{issuer}/invitations/block?b={block_token}"),
            token_hash: secrets::hash_secret(&token),
            block_token_hash: secrets::hash_secret(&block_token),
        }
    }
}
