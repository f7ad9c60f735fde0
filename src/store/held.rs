//! Redemptions held for an administrator's approval, and the decision that binds (or not) the
//! home identity to the invited guest.

use async_trait::async_trait;

use super::audit::{INSERT_AUDIT, bind_audit};
use super::invitations::CLAIM_INVITATION;
use super::sql::{RowsAffected, WriteTx, for_sql_backends};
use super::users::INSERT_IDENTITY;
use super::{AuditEvent, StoreError, StoreResult};
use crate::domain::invitation::{HeldRedemption, HeldStatus};
use crate::domain::user::Identity;

/// An administrator's answer to a held redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Bind the identity and redeem the invitation.
    Approve,
    /// Leave the identity unbound.
    Deny,
}

/// Storage of held redemptions.
#[async_trait]
pub trait HeldRedemptionStore {
    /// Records a held redemption with its audit event, unless the same identity already asked
    /// for the same invitation; returns the stored request (the earlier one, with its status,
    /// if there was one).
    async fn hold_redemption(
        &self,
        held: &HeldRedemption,
        audit: &AuditEvent,
    ) -> StoreResult<HeldRedemption>;
    /// The tenant's held redemptions, newest first, optionally of one status: `limit` from
    /// `offset`.
    async fn held_redemptions(
        &self,
        tenant_id: &str,
        status: Option<HeldStatus>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HeldRedemption>>;
    /// One held redemption.
    async fn held_redemption(&self, tenant_id: &str, id: &str) -> StoreResult<HeldRedemption>;
    /// Decides a pending request in one transaction. Approving claims the invitation (it must
    /// still be pending), marks the guest Accepted, binds (issuer, subject) and closes the
    /// invitation's other pending requests. [`StoreError::Conflict`] if the request was
    /// already decided, or if the invitation is no longer pending (the request is then closed).
    async fn decide_held_redemption(
        &self,
        tenant_id: &str,
        id: &str,
        decision: Decision,
        decided_by: &str,
        now: i64,
        audit: &AuditEvent,
    ) -> StoreResult<HeldRedemption>;
}

#[derive(sqlx::FromRow)]
struct HeldRow {
    id: String,
    tenant_id: String,
    invitation_id: String,
    user_id: String,
    invited_email: String,
    partner_id: Option<String>,
    issuer: String,
    subject: String,
    asserted_email: Option<String>,
    asserted_email_verified: bool,
    status: String,
    created_at: i64,
    decided_at: Option<i64>,
    decided_by: Option<String>,
}

impl HeldRow {
    fn into_held(self) -> StoreResult<HeldRedemption> {
        Ok(HeldRedemption {
            status: HeldStatus::parse(&self.status).map_err(|e| StoreError::Corrupt(e.0))?,
            id: self.id,
            tenant_id: self.tenant_id,
            invitation_id: self.invitation_id,
            invited_user_id: self.user_id,
            invited_user_email_address: self.invited_email,
            identity_provider_id: self.partner_id,
            issuer: self.issuer,
            issuer_assigned_id: self.subject,
            asserted_email_address: self.asserted_email,
            asserted_email_verified: self.asserted_email_verified,
            created_at: self.created_at,
            decided_at: self.decided_at,
            decided_by: self.decided_by,
        })
    }
}

/// `SELECT <held columns> FROM held_redemptions <rest>`.
macro_rules! select_held {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, invitation_id, user_id, invited_email, partner_id, issuer, \
             subject, asserted_email, asserted_email_verified, status, created_at, decided_at, \
             decided_by FROM held_redemptions ",
            $rest
        )
    };
}

for_sql_backends! {
    helpers {
        /// An approved request: the guest is accepted, the home identity bound to it, and the
        /// invitation's other pending requests closed.
        async fn bind_approved_identity(
            tx: &mut WriteTx<DB>,
            tenant_id: &str,
            held: &HeldRedemption,
            decided_by: &str,
            now: i64,
        ) -> StoreResult<()> {
            // The invited address stays unverified: the home IdP never asserted it.
            sqlx::query::<DB>(
                "UPDATE users SET external_user_state = 'Accepted', \
                 external_user_state_changed_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(held.invited_user_id.as_str())
            .execute(&mut **tx)
            .await?;
            let identity = Identity {
                sign_in_type: crate::domain::user::SIGN_IN_FEDERATED.to_owned(),
                issuer: held.issuer.clone(),
                issuer_assigned_id: held.issuer_assigned_id.clone(),
            };
            sqlx::query::<DB>(INSERT_IDENTITY)
                .bind(tenant_id)
                .bind(held.invited_user_id.as_str())
                .bind(identity.sign_in_type.as_str())
                .bind(identity.issuer.as_str())
                .bind(identity.issuer_assigned_id.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(
                        "the home identity is already bound to another user of this tenant"
                            .to_owned(),
                    ),
                    other => other,
                })?;
            sqlx::query::<DB>(
                "UPDATE held_redemptions SET status = $1, decided_at = $2, decided_by = $3 \
                 WHERE invitation_id = $4 AND status = $5",
            )
            .bind(HeldStatus::Closed.as_str())
            .bind(now)
            .bind(decided_by)
            .bind(held.invitation_id.as_str())
            .bind(HeldStatus::Pending.as_str())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    }
}

for_sql_backends! {
    impl HeldRedemptionStore {
        async fn hold_redemption(&self, held: &HeldRedemption, audit: &AuditEvent) -> StoreResult<HeldRedemption> {
            let mut tx = self.begin_write().await?;
            let existing = sqlx::query_as::<DB, HeldRow>(select_held!(
                "WHERE invitation_id = $1 AND issuer = $2 AND subject = $3"
            ))
            .bind(held.invitation_id.as_str())
            .bind(held.issuer.as_str())
            .bind(held.issuer_assigned_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                return row.into_held();
            }
            sqlx::query::<DB>(
                "INSERT INTO held_redemptions (id, tenant_id, invitation_id, user_id, invited_email, \
                 partner_id, issuer, subject, asserted_email, asserted_email_verified, status, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(held.id.as_str())
            .bind(held.tenant_id.as_str())
            .bind(held.invitation_id.as_str())
            .bind(held.invited_user_id.as_str())
            .bind(held.invited_user_email_address.as_str())
            .bind(held.identity_provider_id.as_deref())
            .bind(held.issuer.as_str())
            .bind(held.issuer_assigned_id.as_str())
            .bind(held.asserted_email_address.as_deref())
            .bind(held.asserted_email_verified)
            .bind(HeldStatus::Pending.as_str())
            .bind(held.created_at)
            .execute(&mut *tx)
            .await?;
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(held.clone())
        }

        async fn held_redemptions(&self, tenant_id: &str, status: Option<HeldStatus>, limit: i64, offset: i64) -> StoreResult<Vec<HeldRedemption>> {
            sqlx::query_as::<DB, HeldRow>(select_held!(
                "WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
            ))
            .bind(tenant_id)
            .bind(status.map(HeldStatus::as_str))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(HeldRow::into_held)
            .collect()
        }

        async fn held_redemption(&self, tenant_id: &str, id: &str) -> StoreResult<HeldRedemption> {
            sqlx::query_as::<DB, HeldRow>(select_held!("WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(&self.pool)
                .await?
                .into_held()
        }

        async fn decide_held_redemption(
            &self,
            tenant_id: &str,
            id: &str,
            decision: Decision,
            decided_by: &str,
            now: i64,
            audit: &AuditEvent,
        ) -> StoreResult<HeldRedemption> {
            let mut tx = self.begin_write().await?;
            let mut held = sqlx::query_as::<DB, HeldRow>(select_held!("WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .into_held()?;
            if held.status != HeldStatus::Pending {
                return Err(StoreError::Conflict(format!(
                    "the request is already {}",
                    held.status.as_str()
                )));
            }
            let mut status = match decision {
                Decision::Approve => HeldStatus::Approved,
                Decision::Deny => HeldStatus::Denied,
            };
            if decision == Decision::Approve {
                // The request was read for this tenant, so its invitation is the tenant's.
                let claimed = sqlx::query::<DB>(CLAIM_INVITATION)
                .bind(now)
                .bind(held.invitation_id.as_str())
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() != 1 {
                    status = HeldStatus::Closed;
                }
            }
            sqlx::query::<DB>(
                "UPDATE held_redemptions SET status = $1, decided_at = $2, decided_by = $3 WHERE id = $4",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(decided_by)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if status == HeldStatus::Closed {
                tx.commit().await?;
                return Err(StoreError::Conflict(
                    "the invitation is no longer pending (redeemed, revoked or expired); the request is closed"
                        .to_owned(),
                ));
            }
            if status == HeldStatus::Approved {
                Self::bind_approved_identity(&mut tx, tenant_id, &held, decided_by, now).await?;
            }
            bind_audit!(sqlx::query::<DB>(INSERT_AUDIT), audit).execute(&mut *tx).await?;
            tx.commit().await?;
            held.status = status;
            held.decided_at = Some(now);
            held.decided_by = Some(decided_by.to_owned());
            Ok(held)
        }
    }
}
