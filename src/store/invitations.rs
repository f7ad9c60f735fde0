//! Invitations and their lifecycle. Creating an invitation writes the guest user, the
//! invitation, group memberships, the app assignment, the e-mail and the audit event in one
//! transaction; redeeming one is a single conditional update, so of any number of concurrent
//! redemptions exactly one binds (SECURITY.md H.59).

use async_trait::async_trait;

use super::audit::{AuditEvent, INSERT_AUDIT, bind_audit};
use super::mail::{INSERT_MAIL, OutboxMessage, bind_mail};
use super::sql::{
    ROWS_PER_STATEMENT, RowsAffected, WriteTx, cacheable, for_sql_backends, from_json,
    placeholder_list, repeat_values, to_json,
};
use super::users::{INSERT_IDENTITY, INSERT_USER, bind_user};
use super::{StoreError, StoreResult};
use crate::domain::invitation::{Invitation, InvitationStatus, Inviter};
use crate::domain::user::{Identity, User};

/// Re-binding an existing guest to a new identity (`resetRedemption`).
#[derive(Debug, Clone)]
pub struct Reset<'a> {
    /// The address the guest will redeem with (may differ from the old one).
    pub email: &'a str,
    /// A new security stamp: grants given to the old identity end.
    pub stamp: &'a str,
}

/// Everything one invitation writes.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    /// The invitation.
    pub invitation: &'a Invitation,
    /// SHA-256 of the redeem token.
    pub token_hash: &'a str,
    /// SHA-256 of the "block future invitations" token.
    pub block_token_hash: &'a str,
    /// The guest user to create, for a first invitation.
    pub new_guest: Option<&'a User>,
    /// A reset of the existing guest's redemption.
    pub reset: Option<Reset<'a>>,
    /// Groups the guest joins.
    pub groups: &'a [String],
    /// An app the guest is assigned to.
    pub assign_app: Option<&'a str>,
    /// The invitation e-mail, unless none is sent.
    pub mail: Option<&'a OutboxMessage>,
    /// Audit events.
    pub audit: &'a [AuditEvent],
}

/// A redemption to record.
#[derive(Debug, Clone)]
pub struct Redemption<'a> {
    /// The invitation.
    pub invitation: &'a Invitation,
    /// The identity the guest proved.
    pub identity: &'a Identity,
    /// A password the guest set, if any.
    pub password_hash: Option<&'a str>,
    /// Time of redemption.
    pub now: i64,
    /// The audit event.
    pub audit: &'a AuditEvent,
}

/// Storage of invitations.
#[async_trait]
pub trait InvitationStore {
    /// Writes new invitations and everything that goes with them, all in one transaction
    /// (a bulk upload writes a chunk of rows at once); earlier pending invitations of the same
    /// guests are revoked (their links die).
    async fn create_invitations(&self, batch: &[NewInvitation<'_>]) -> StoreResult<()>;
    /// Which of `email_keys` have asked for no more invitations from the tenant.
    async fn blocked_among(
        &self,
        tenant_id: &str,
        email_keys: &[String],
    ) -> StoreResult<Vec<String>>;
    /// An invitation by the digest of its redeem token.
    async fn invitation_by_token(&self, token_hash: &str) -> StoreResult<Invitation>;
    /// An invitation by the digest of its block token.
    async fn invitation_by_block_token(&self, token_hash: &str) -> StoreResult<Invitation>;
    /// An invitation of a tenant.
    async fn invitation_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<Invitation>;
    /// A tenant's invitations, newest first, optionally with one status at `now`.
    async fn list_invitations(
        &self,
        tenant_id: &str,
        status: Option<InvitationStatus>,
        now: i64,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Invitation>>;
    /// Revokes a pending invitation; `false` if it was not pending.
    async fn revoke_invitation(
        &self,
        invitation: &Invitation,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Redeems an invitation atomically: [`StoreError::Conflict`] unless it was still pending.
    async fn redeem(&self, redemption: &Redemption<'_>) -> StoreResult<()>;
    /// Whether an address asked this tenant not to invite it again.
    async fn is_blocked(&self, tenant_id: &str, email_key: &str) -> StoreResult<bool>;
    /// Records that an address asked this tenant not to invite it again.
    async fn block_invitations(
        &self,
        tenant_id: &str,
        email_key: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    tenant_id: String,
    user_id: String,
    email: String,
    display_name: Option<String>,
    redirect_url: String,
    inviter_id: String,
    inviter_type: String,
    inviter_name: String,
    send_message: bool,
    message_info: String,
    invited_user_type: String,
    reset_redemption: bool,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl InvitationRow {
    fn into_invitation(self) -> StoreResult<Invitation> {
        Ok(Invitation {
            message_info: from_json(&self.message_info)?,
            inviter: Inviter {
                id: self.inviter_id,
                kind: self.inviter_type,
                name: self.inviter_name,
            },
            id: self.id,
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            email: self.email,
            display_name: self.display_name,
            redirect_url: self.redirect_url,
            send_message: self.send_message,
            invited_user_type: self.invited_user_type,
            reset_redemption: self.reset_redemption,
            created_at: self.created_at,
            expires_at: self.expires_at,
            redeemed_at: self.redeemed_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// `SELECT <invitation columns> FROM invitations <rest>`.
macro_rules! select_invitations {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, user_id, email, display_name, redirect_url, inviter_id, \
             inviter_type, inviter_name, send_message, message_info, invited_user_type, \
             reset_redemption, created_at, expires_at, redeemed_at, revoked_at FROM invitations ",
            $rest
        )
    };
}

/// The listing query for each status filter (`$1` tenant, `$2` now, `$3` limit, `$4` offset).
fn list_query(status: Option<InvitationStatus>) -> &'static str {
    match status {
        None => select_invitations!(
            "WHERE tenant_id = $1 AND $2 = $2 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ),
        Some(InvitationStatus::PendingAcceptance) => select_invitations!(
            "WHERE tenant_id = $1 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ),
        Some(InvitationStatus::Completed) => select_invitations!(
            "WHERE tenant_id = $1 AND redeemed_at IS NOT NULL AND $2 = $2 \
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ),
        Some(InvitationStatus::Revoked) => select_invitations!(
            "WHERE tenant_id = $1 AND redeemed_at IS NULL AND revoked_at IS NOT NULL AND $2 = $2 \
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ),
        Some(InvitationStatus::Expired) => select_invitations!(
            "WHERE tenant_id = $1 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at <= $2 \
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ),
    }
}

/// Inserts an invitation.
/// Marks a pending invitation redeemed at `$1` (`$2` its id): one row only while it is still
/// pending (not redeemed, not revoked, not expired), so a race or a stale request claims
/// nothing.
pub(crate) const CLAIM_INVITATION: &str = "UPDATE invitations SET redeemed_at = $1 WHERE id = $2 \
     AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $1";

const INSERT_INVITATION: &str = "INSERT INTO invitations (id, tenant_id, user_id, email, email_key, \
     display_name, redirect_url, inviter_id, inviter_type, inviter_name, send_message, message_info, \
     invited_user_type, reset_redemption, token_hash, block_token_hash, created_at, expires_at, \
     redeemed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";

/// Adds a group member.
const INSERT_GROUP_MEMBER: &str = "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
     ON CONFLICT (group_id, user_id) DO NOTHING";

/// Assigns an app to a user.
const INSERT_ASSIGNMENT: &str = "INSERT INTO app_role_assignments (id, tenant_id, app_id, principal_id, \
     principal_type, app_role_id, created_at) \
     VALUES ($1, $2, $3, $4, 'User', '00000000-0000-0000-0000-000000000000', $5) \
     ON CONFLICT (app_id, principal_id, app_role_id) DO NOTHING";

for_sql_backends! {
    helpers {
        /// The new guests, first.
        async fn insert_invited_guests(tx: &mut WriteTx<DB>, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            let guests: Vec<&User> = batch.iter().filter_map(|new| new.new_guest).collect();
            for chunk in guests.chunks(ROWS_PER_STATEMENT) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_USER, chunk.len()))).persistent(cacheable(chunk.len()));
                for guest in chunk {
                    query = bind_user!(query, *guest);
                }
                query.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Guests whose redemption is reset lose their identities, their address and password
        /// are replaced and their sessions end.
        async fn reset_redemptions(tx: &mut WriteTx<DB>, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            for new in batch {
                let Some(reset) = &new.reset else { continue };
                let invitation = new.invitation;
                sqlx::query::<DB>("DELETE FROM user_identities WHERE user_id = $1")
                    .bind(invitation.user_id.as_str())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query::<DB>(
                    "UPDATE users SET external_user_state = 'PendingAcceptance', \
                     external_user_state_changed_at = $1, email = $2, email_key = $3, \
                     email_verified = FALSE, password_hash = NULL, security_stamp = $4, updated_at = $1 \
                     WHERE id = $5",
                )
                .bind(invitation.created_at)
                .bind(reset.email)
                .bind(reset.email.to_ascii_lowercase())
                .bind(reset.stamp)
                .bind(invitation.user_id.as_str())
                .execute(&mut **tx)
                .await?;
                sqlx::query::<DB>("UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
                    .bind(invitation.created_at)
                    .bind(invitation.user_id.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }

        /// Earlier links of guests invited again die (a new guest has none).
        async fn revoke_earlier_links(tx: &mut WriteTx<DB>, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            let again: Vec<&NewInvitation<'_>> =
                batch.iter().filter(|new| new.new_guest.is_none()).collect();
            for chunk in again.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "UPDATE invitations SET revoked_at = $1 WHERE redeemed_at IS NULL \
                     AND revoked_at IS NULL AND user_id IN ({})",
                    placeholder_list(2, chunk.len())
                );
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(sql)).persistent(cacheable(chunk.len())).bind(chunk[0].invitation.created_at);
                for new in chunk {
                    query = query.bind(new.invitation.user_id.as_str());
                }
                query.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// The invitations themselves.
        async fn insert_invitation_rows(tx: &mut WriteTx<DB>, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_INVITATION, chunk.len()))).persistent(cacheable(chunk.len()));
                for new in chunk {
                    let invitation = new.invitation;
                    query = query
                        .bind(invitation.id.as_str())
                        .bind(invitation.tenant_id.as_str())
                        .bind(invitation.user_id.as_str())
                        .bind(invitation.email.as_str())
                        .bind(invitation.email.to_ascii_lowercase())
                        .bind(invitation.display_name.as_deref())
                        .bind(invitation.redirect_url.as_str())
                        .bind(invitation.inviter.id.as_str())
                        .bind(invitation.inviter.kind.as_str())
                        .bind(invitation.inviter.name.as_str())
                        .bind(invitation.send_message)
                        .bind(to_json(&invitation.message_info)?)
                        .bind(invitation.invited_user_type.as_str())
                        .bind(invitation.reset_redemption)
                        .bind(new.token_hash)
                        .bind(new.block_token_hash)
                        .bind(invitation.created_at)
                        .bind(invitation.expires_at)
                        .bind(invitation.redeemed_at);
                }
                query.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// The groups the guests join and the app assigned to them.
        async fn insert_memberships_and_assignments(tx: &mut WriteTx<DB>, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            let members: Vec<(&str, &str)> = batch
                .iter()
                .flat_map(|new| new.groups.iter().map(|g| (g.as_str(), new.invitation.user_id.as_str())))
                .collect();
            for chunk in members.chunks(ROWS_PER_STATEMENT) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_GROUP_MEMBER, chunk.len()))).persistent(cacheable(chunk.len()));
                for (group, user) in chunk {
                    query = query.bind(*group).bind(*user);
                }
                query.execute(&mut **tx).await?;
            }
            let assignments: Vec<(&str, &str, &str, i64)> = batch
                .iter()
                .filter_map(|new| {
                    new.assign_app.map(|app| {
                        let invitation = new.invitation;
                        (invitation.tenant_id.as_str(), app, invitation.user_id.as_str(), invitation.created_at)
                    })
                })
                .collect();
            for chunk in assignments.chunks(ROWS_PER_STATEMENT) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_ASSIGNMENT, chunk.len()))).persistent(cacheable(chunk.len()));
                for (tenant, app, user, at) in chunk {
                    let id = uuid::Uuid::new_v4().to_string();
                    query = query.bind(id).bind(*tenant).bind(*app).bind(*user).bind(*at);
                }
                query.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// The invitation mail and the audit events.
        async fn insert_mail_and_audit(tx: &mut WriteTx<DB>, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            let mails: Vec<&OutboxMessage> = batch.iter().filter_map(|new| new.mail).collect();
            for chunk in mails.chunks(ROWS_PER_STATEMENT) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_MAIL, chunk.len()))).persistent(cacheable(chunk.len()));
                for mail in chunk {
                    query = bind_mail!(query, *mail);
                }
                query.execute(&mut **tx).await?;
            }
            let events: Vec<&AuditEvent> = batch.iter().flat_map(|new| new.audit.iter()).collect();
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                let mut query = sqlx::query::<DB>(sqlx::AssertSqlSafe(repeat_values(INSERT_AUDIT, chunk.len()))).persistent(cacheable(chunk.len()));
                for event in chunk {
                    query = bind_audit!(query, *event);
                }
                query.execute(&mut **tx).await?;
            }
            Ok(())
        }
    }
}

for_sql_backends! {
    impl InvitationStore {
        async fn create_invitations(&self, batch: &[NewInvitation<'_>]) -> StoreResult<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            Self::insert_invited_guests(&mut tx, batch).await?;
            Self::reset_redemptions(&mut tx, batch).await?;
            Self::revoke_earlier_links(&mut tx, batch).await?;
            Self::insert_invitation_rows(&mut tx, batch).await?;
            Self::insert_memberships_and_assignments(&mut tx, batch).await?;
            Self::insert_mail_and_audit(&mut tx, batch).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn blocked_among(&self, tenant_id: &str, email_keys: &[String]) -> StoreResult<Vec<String>> {
            let mut blocked = Vec::new();
            for chunk in email_keys.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "SELECT email_key FROM invitation_blocks WHERE tenant_id = $1 AND email_key IN ({})",
                    placeholder_list(2, chunk.len())
                );
                let mut query = sqlx::query_scalar::<DB, String>(sqlx::AssertSqlSafe(sql)).persistent(cacheable(chunk.len())).bind(tenant_id);
                for key in chunk {
                    query = query.bind(key.as_str());
                }
                blocked.extend(query.fetch_all(&self.pool).await?);
            }
            Ok(blocked)
        }

        async fn invitation_by_token(&self, token_hash: &str) -> StoreResult<Invitation> {
            sqlx::query_as::<DB, InvitationRow>(select_invitations!("WHERE token_hash = $1"))
                .bind(token_hash)
                .fetch_one(&self.pool)
                .await?
                .into_invitation()
        }

        async fn invitation_by_block_token(&self, token_hash: &str) -> StoreResult<Invitation> {
            sqlx::query_as::<DB, InvitationRow>(select_invitations!("WHERE block_token_hash = $1"))
                .bind(token_hash)
                .fetch_one(&self.pool)
                .await?
                .into_invitation()
        }

        async fn invitation_by_id(&self, tenant_id: &str, id: &str) -> StoreResult<Invitation> {
            sqlx::query_as::<DB, InvitationRow>(select_invitations!("WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(&self.pool)
                .await?
                .into_invitation()
        }

        async fn list_invitations(
            &self,
            tenant_id: &str,
            status: Option<InvitationStatus>,
            now: i64,
            limit: i64,
            offset: i64,
        ) -> StoreResult<Vec<Invitation>> {
            let rows = sqlx::query_as::<DB, InvitationRow>(list_query(status))
                .bind(tenant_id)
                .bind(now)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
            rows.into_iter().map(InvitationRow::into_invitation).collect()
        }

        async fn revoke_invitation(&self, invitation: &Invitation, now: i64, audit: &AuditEvent) -> StoreResult<bool> {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query::<DB>(
                "UPDATE invitations SET revoked_at = $1 WHERE id = $2 \
                 AND redeemed_at IS NULL AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(invitation.id.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn redeem(&self, redemption: &Redemption<'_>) -> StoreResult<()> {
            let invitation = redemption.invitation;
            let now = redemption.now;
            let mut tx = self.begin_write().await?;
            let claimed = sqlx::query::<DB>(CLAIM_INVITATION)
            .bind(now)
            .bind(invitation.id.as_str())
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() != 1 {
                return Err(StoreError::Conflict("the invitation is no longer pending".to_owned()));
            }
            sqlx::query::<DB>(
                "UPDATE users SET external_user_state = 'Accepted', external_user_state_changed_at = $1, \
                 email_verified = TRUE, password_hash = COALESCE($2, password_hash), updated_at = $1 \
                 WHERE id = $3",
            )
            .bind(now)
            .bind(redemption.password_hash)
            .bind(invitation.user_id.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query::<DB>(INSERT_IDENTITY)
                .bind(invitation.tenant_id.as_str())
                .bind(invitation.user_id.as_str())
                .bind(redemption.identity.sign_in_type.as_str())
                .bind(redemption.identity.issuer.as_str())
                .bind(redemption.identity.issuer_assigned_id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), redemption.audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn is_blocked(&self, tenant_id: &str, email_key: &str) -> StoreResult<bool> {
            let count = sqlx::query_scalar::<DB, i64>(
                "SELECT COUNT(*) FROM invitation_blocks WHERE tenant_id = $1 AND email_key = $2",
            )
            .bind(tenant_id)
            .bind(email_key)
            .fetch_one(&self.pool)
            .await?;
            Ok(count > 0)
        }

        async fn block_invitations(&self, tenant_id: &str, email_key: &str, now: i64, audit: &AuditEvent) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            sqlx::query::<DB>(
                "INSERT INTO invitation_blocks (tenant_id, email_key, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, email_key) DO NOTHING",
            )
            .bind(tenant_id)
            .bind(email_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
