//! The invitation's "block" link: a person who never wants invitations from the tenant again
//! confirms it, and later invitations to the address are refused.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::redeem::invalid_link;
use crate::domain::invitation::Invitation;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::secrets;
use crate::services::AppState;
use crate::store::{AuditEvent, Party, StoreError};
use crate::web::error::AppError;
use crate::web::{self, Chrome, Page};

/// Query and form of the block link.
#[derive(Debug, Deserialize)]
pub struct BlockParams {
    b: Option<String>,
}

async fn block_target(
    state: &AppState,
    tenant: &Tenant,
    token: Option<&str>,
) -> Result<Invitation, AppError> {
    let token = token.unwrap_or("");
    match state
        .store
        .invitation_by_block_token(&secrets::hash_secret(token))
        .await
    {
        Ok(invitation) if invitation.tenant_id == tenant.id && token.len() <= 128 => Ok(invitation),
        Ok(_) | Err(StoreError::NotFound) => Err(invalid_link()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /{tenant}/invitations/block?b=…`: asks to confirm.
pub async fn get_block(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(params): Query<BlockParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = super::tenant(&state, &slug).await?;
    let invitation = block_target(&state, &tenant, params.b.as_deref()).await?;
    let chrome = Chrome::tenant(tenant.as_ref(), invitation_locale(&invitation, &headers));
    let page = Page::new(
        "block.html",
        &chrome,
        minijinja::context! {
            title => chrome.text("block-title"), org => &tenant.name,
            email => &invitation.email, token => params.b, done => false,
            action => format!("/{}/invitations/block", tenant.slug),
        },
    )?;
    Ok(page.into_response())
}

/// The language of a page about `invitation`: its language, else the browser's.
fn invitation_locale(invitation: &Invitation, headers: &HeaderMap) -> crate::i18n::Locale {
    crate::i18n::Locale::negotiate(
        invitation.message_info.message_language.as_deref(),
        None,
        super::accept_language(headers),
    )
}

/// `POST /{tenant}/invitations/block`: records the choice; later invitations to the address
/// are created without an e-mail ("Email not sent, user unsubscribed").
pub async fn post_block(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !web::same_origin_post(&headers, &state.config.public_origin()) {
        return Err(AppError::Forbidden("cross-site block request"));
    }
    let tenant = super::tenant(&state, &slug).await?;
    let params: BlockParams = web::parse_form(&body)?;
    let invitation = block_target(&state, &tenant, params.b.as_deref()).await?;
    let audit = AuditEvent::new(
        &tenant.id,
        "UserManagement",
        "Email unsubscribed",
        Party {
            id: invitation.user_id.clone(),
            kind: "user".to_owned(),
            display: invitation.email.clone(),
        },
        vec![],
    );
    state
        .store
        .block_invitations(
            &tenant.id,
            &invitation.email.to_ascii_lowercase(),
            unix_now(),
            &audit,
        )
        .await?;
    let chrome = Chrome::tenant(tenant.as_ref(), invitation_locale(&invitation, &headers));
    let page = Page::new(
        "block.html",
        &chrome,
        minijinja::context! {
            title => chrome.text("block-done-title"), org => &tenant.name,
            email => &invitation.email, done => true,
        },
    )?;
    Ok(page.into_response())
}
