//! Telling apps that a user's sessions ended (sign-out, `revokeSignInSessions`, disable,
//! delete): which apps each browser session answered is recorded when it answers them
//! ([`app_signed_in`]); ending a session ends it in the database (every node reads sessions
//! from there, so it is gone everywhere at once) and queues one back-channel logout
//! notification per app of the session that registered a `backchannel_uri`, delivered by
//! [`deliver`]. The front doors use what [`session_ended`] returns for the front-channel
//! iframes and SAML single logout to the other SPs.

pub mod chain;
pub mod deliver;
pub mod recorded;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::domain::app::App;
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::services::{Result, Services};
use crate::store::{EndSessions, Grant, LogoutNotice, Session, SessionApp};
use crate::tokens::claims::pairwise_sub;

pub use deliver::Outbox;
pub use recorded::RecordedApps;

/// An app that the ended session had answered, with what it received.
#[derive(Debug, Clone)]
pub struct EndedApp {
    /// The app as registered now.
    pub app: Arc<App>,
    /// What the session gave it (SAML NameID and SessionIndex).
    pub record: SessionApp,
}

/// A browser session that just ended, and the apps it had answered.
#[derive(Debug, Clone, Default)]
pub struct Ended {
    /// The session's public id (`sid`).
    pub session_id: String,
    /// The apps, in the order the session first answered them.
    pub apps: Vec<EndedApp>,
}

/// Records that `record.session_id` answered an app (an OIDC code or a SAML assertion), so
/// that ending the session reaches it. A row this node wrote unchanged within the hour is
/// not written again ([`RecordedApps`]).
pub async fn app_signed_in(services: &Services, record: SessionApp) -> Result<()> {
    if services.recorded_apps.is_fresh(&record) {
        return Ok(());
    }
    services.store.record_session_app(&record).await?;
    services.recorded_apps.remember(&record);
    Ok(())
}

/// Creates a user grant issued to an app in a browser session (an OIDC code) and records
/// that the session answered the app, as [`app_signed_in`] does: both in one call to the
/// database, or the grant alone when this node wrote the same session app within the hour.
pub async fn grant_signed_in(services: &Services, grant: &Grant, record: SessionApp) -> Result<()> {
    if services.recorded_apps.is_fresh(&record) {
        services.store.create_grant(grant).await?;
        return Ok(());
    }
    services
        .store
        .create_grant_in_session(grant, &record)
        .await?;
    services.recorded_apps.remember(&record);
    Ok(())
}

/// Ends one browser session (RP-initiated logout, the sign-out page, SAML single logout):
/// queues the back-channel notifications of its apps and returns them for the front channel.
pub async fn session_ended(
    services: &Services,
    tenant: &Tenant,
    session: &Session,
) -> Result<Ended> {
    let now = unix_now();
    let apps = apps_of(services, &tenant.id, &session.id).await?;
    let notices = notices(services, tenant, &session.id, &apps, now);
    let ids = [session.id.clone()];
    services
        .store
        .end_sessions(&EndSessions {
            tenant_id: &tenant.id,
            session_ids: &ids,
            user_id: None,
            notices: &notices,
            now,
        })
        .await?;
    services.logouts.wake();
    Ok(Ended {
        session_id: session.id.clone(),
        apps,
    })
}

/// Every session of `user_id` in tenant `tenant_id` has ended: ends them all in the database
/// (so on every node at once), revokes the user's grants (every refresh-token family) and
/// queues a back-channel logout notification per (session, app with a `backchannel_uri`).
/// Idempotent; the queued notifications carry all they need, so the user row may be deleted
/// right after.
pub async fn user_sessions_ended(
    services: &Services,
    tenant_id: &str,
    user_id: &str,
) -> Result<()> {
    let now = unix_now();
    let tenant = services.store.tenant_by_id(tenant_id).await?;
    let sessions = services
        .store
        .live_sessions_of_user(tenant_id, user_id, now)
        .await?;
    let mut queued = Vec::new();
    for session_id in &sessions {
        let apps = apps_of(services, tenant_id, session_id).await?;
        queued.extend(notices(services, &tenant, session_id, &apps, now));
    }
    services
        .store
        .end_sessions(&EndSessions {
            tenant_id,
            session_ids: &sessions,
            user_id: Some(user_id),
            notices: &queued,
            now,
        })
        .await?;
    tracing::info!(
        tenant = %tenant.slug,
        user = %user_id,
        sessions = sessions.len(),
        notifications = queued.len(),
        "every session of the user ended"
    );
    services.logouts.wake();
    Ok(())
}

/// The apps a session answered that are still registered in the tenant.
async fn apps_of(services: &Services, tenant_id: &str, session_id: &str) -> Result<Vec<EndedApp>> {
    let mut apps = Vec::new();
    for record in services.store.session_apps(session_id).await? {
        if record.tenant_id != tenant_id {
            continue;
        }
        if let Some(app) = services.directory.app(&record.client_id).await?
            && app.tenant_id == tenant_id
        {
            apps.push(EndedApp { app, record });
        }
    }
    Ok(apps)
}

/// One notification per app of the session with a back-channel logout URI.
fn notices(
    services: &Services,
    tenant: &Tenant,
    session_id: &str,
    apps: &[EndedApp],
    now: i64,
) -> Vec<LogoutNotice> {
    apps.iter()
        .filter_map(|ended| {
            let uri = ended.app.profile.logout.backchannel_uri.clone()?;
            Some(LogoutNotice {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant.id.clone(),
                issuer: services.issuer(&tenant.slug),
                client_id: ended.app.client_id.clone(),
                uri,
                sub: pairwise_sub(&tenant.id, &ended.app.client_id, &ended.record.user_id),
                sid: session_id.to_owned(),
                created_at: now,
                attempts: 0,
            })
        })
        .collect()
}
