//! Conditional-access policies: creating, changing and deleting them for the CLI and the
//! admin API alike. Every policy is validated (its rules, and that the users, groups and
//! applications it names exist in the tenant) and every change is audited.

use crate::domain::Invalid;
use crate::domain::policy::{Conditions, GrantControls, Policy, PolicyState};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::store::{AuditEvent, Party, Store, StoreError};

use super::AdminError;

/// What a policy is made of (everything but its id and times).
#[derive(Debug, Clone)]
pub struct PolicyInput {
    /// Name.
    pub display_name: String,
    /// State.
    pub state: PolicyState,
    /// Conditions.
    pub conditions: Conditions,
    /// Grant.
    pub grant: GrantControls,
}

/// Checks a policy's rules and that what it names exists in its tenant.
pub async fn validate(store: &dyn Store, policy: &Policy) -> Result<(), AdminError> {
    policy.validate()?;
    let (users, groups, apps) = policy.named_ids();
    for id in users {
        match store.user_by_id(&policy.tenant_id, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(Invalid::new(format!("no user with id {id:?} in this tenant")).into());
            }
            Err(e) => return Err(AdminError::Store(e)),
        }
    }
    for id in groups {
        match store.group_by_id(&policy.tenant_id, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(Invalid::new(format!("no group with id {id:?} in this tenant")).into());
            }
            Err(e) => return Err(AdminError::Store(e)),
        }
    }
    for id in apps {
        match store.app_by_client_id(id).await {
            Ok(app) if app.tenant_id == policy.tenant_id => {}
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(Invalid::new(format!(
                    "no application with appId {id:?} in this tenant"
                ))
                .into());
            }
            Err(e) => return Err(AdminError::Store(e)),
        }
    }
    Ok(())
}

fn audit(tenant: &Tenant, activity: &str, by: Party, policy: &Policy) -> AuditEvent {
    AuditEvent::new(
        &tenant.id,
        "Policy",
        activity,
        by,
        vec![Party {
            id: policy.id.clone(),
            kind: "policy".to_owned(),
            display: policy.display_name.clone(),
        }],
    )
    .with_details(policy.to_graph())
}

/// Creates a policy.
pub async fn create_policy(
    store: &dyn Store,
    tenant: &Tenant,
    input: PolicyInput,
    by: Party,
) -> Result<Policy, AdminError> {
    let now = unix_now();
    let policy = Policy {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        display_name: input.display_name.trim().to_owned(),
        state: input.state,
        conditions: input.conditions,
        grant: input.grant,
        created_at: now,
        modified_at: now,
    };
    validate(store, &policy).await?;
    store
        .create_policy(&policy)
        .await
        .map_err(AdminError::Store)?;
    store
        .record_audit(&audit(tenant, "Add conditional access policy", by, &policy))
        .await
        .map_err(AdminError::Store)?;
    Ok(policy)
}

/// Replaces a policy's name, state, conditions and grant.
pub async fn update_policy(
    store: &dyn Store,
    tenant: &Tenant,
    mut policy: Policy,
    by: Party,
) -> Result<Policy, AdminError> {
    policy.display_name = policy.display_name.trim().to_owned();
    policy.modified_at = unix_now();
    validate(store, &policy).await?;
    store.update_policy(&policy).await.map_err(|e| match e {
        StoreError::NotFound => AdminError::NotFound("no such policy".to_owned()),
        other => AdminError::Store(other),
    })?;
    store
        .record_audit(&audit(
            tenant,
            "Update conditional access policy",
            by,
            &policy,
        ))
        .await
        .map_err(AdminError::Store)?;
    Ok(policy)
}

/// Deletes a policy.
pub async fn delete_policy(
    store: &dyn Store,
    tenant: &Tenant,
    id: &str,
    by: Party,
) -> Result<(), AdminError> {
    let policy = match store.policy(&tenant.id, id).await {
        Ok(policy) => policy,
        Err(StoreError::NotFound) => {
            return Err(AdminError::NotFound("no such policy".to_owned()));
        }
        Err(e) => return Err(AdminError::Store(e)),
    };
    store
        .delete_policy(&tenant.id, id)
        .await
        .map_err(AdminError::Store)?;
    store
        .record_audit(&audit(
            tenant,
            "Delete conditional access policy",
            by,
            &policy,
        ))
        .await
        .map_err(AdminError::Store)?;
    Ok(())
}
