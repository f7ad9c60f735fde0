//! Access decisions: the application's assignment rule, then conditional access — the
//! tenant's policies (from the in-process cache, which a change clears at once on the node
//! that made it and on every other node when it next polls the configuration generation) and
//! the user's groups, decided by the pure [`crate::policy::evaluate`] — and the sign-in log in
//! Graph's `signIn` shape.

use serde_json::json;

use std::net::IpAddr;

use super::{Result, Services};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::policy::{Context, Decision, Outcome, PolicyResult, Subject, evaluate};
use crate::store::{SignIn, SignInFilter};

/// Decides whether `user` may get a token for `app` (`None`: Gatehouse's own pages) with
/// evidence that is (or is not) multi-factor: first the application's assignment rule, then
/// the tenant's conditional-access policies.
pub async fn decide(
    services: &Services,
    user: &User,
    app: Option<&str>,
    mfa: bool,
) -> Result<Decision> {
    let mut groups: Option<Vec<String>> = None;
    if let Some(client_id) = app
        && let Some(registered) = services.directory.app(client_id).await?
        && registered.assignment_required
    {
        let user_groups =
            super::membership::groups_of_user(services.store.as_ref(), &user.id).await?;
        let mut principals = user_groups.clone();
        principals.push(user.id.clone());
        let assigned = services.store.assigned_apps(&principals).await?;
        if !registered.admits(&assigned) {
            return Ok(Decision {
                outcome: Outcome::NotAssigned,
                policies: Vec::new(),
            });
        }
        groups = Some(user_groups);
    }
    let policies = services.directory.policies(&user.tenant_id).await?;
    if policies.is_empty() {
        return Ok(evaluate(&[], &no_groups(user), &Context { app, mfa }));
    }
    let needs_groups = policies.iter().any(|p| {
        let users = &p.conditions.users;
        !users.include_groups.is_empty() || !users.exclude_groups.is_empty()
    });
    let groups = match groups {
        Some(groups) => groups,
        None if needs_groups => {
            super::membership::groups_of_user(services.store.as_ref(), &user.id).await?
        }
        None => Vec::new(),
    };
    let subject = Subject {
        user_id: &user.id,
        user_type: user.user_type,
        groups: &groups,
    };
    Ok(evaluate(&policies, &subject, &Context { app, mfa }))
}

fn no_groups(user: &User) -> Subject<'_> {
    Subject {
        user_id: &user.id,
        user_type: user.user_type,
        groups: &[],
    }
}

/// How a sign-in attempt ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A token or assertion was issued (or redemption completed).
    Success,
    /// Refused (blocked, wrong credentials, policy unmet on refresh…).
    Failure,
    /// The user was sent to a further step (the second factor).
    Interrupted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One sign-in attempt to record.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// The tenant signed in to.
    pub tenant: &'a Tenant,
    /// The user, when known.
    pub user: Option<&'a User>,
    /// The address typed, when the user is not known.
    pub typed: Option<&'a str>,
    /// The application (`client_id`) and its name.
    pub app: Option<(&'a str, &'a str)>,
    /// How the user authenticated (`amr`).
    pub amr: &'a [String],
    /// The upstream identity provider, if any.
    pub idp: Option<&'a str>,
    /// `oidc`, `saml`, `redemption`, `portal`, `refresh`.
    pub protocol: &'a str,
    /// Whether the user took part (false for refresh).
    pub interactive: bool,
    /// The result.
    pub status: Status,
    /// Why it failed or was interrupted.
    pub reason: Option<&'a str>,
    /// Entra's error code: 0 success, 50074 MFA required, 53003 blocked by conditional
    /// access, 50105 not assigned to the application, 50126 wrong credentials, 70044 session
    /// expired or refused on refresh.
    pub error_code: i64,
    /// The conditional-access decision, when policies were evaluated.
    pub decision: Option<&'a Decision>,
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
}

/// Appends an attempt to the tenant's sign-in log (through the node's batching writer,
/// [`crate::services::sign_in_log`]).
pub async fn record(services: &Services, attempt: Attempt<'_>) -> Result<()> {
    metrics::counter!(
        crate::monitoring::SIGN_INS,
        "protocol" => attempt.protocol.to_owned(),
        "outcome" => attempt.status.as_str()
    )
    .increment(1);
    let now = unix_now();
    let id = uuid::Uuid::now_v7().to_string();
    let user = attempt.user;
    let mfa = attempt.amr.iter().any(|m| m == "mfa");
    let required_mfa = attempt.decision.is_some_and(|d| {
        d.outcome == Outcome::RequireMfa
            || d.policies.iter().any(|p| {
                matches!(p.result, PolicyResult::Success)
                    && p.enforced_grant_controls.contains(&"mfa")
            })
    });
    let details = json!({
        "id": id,
        "createdDateTime": crate::domain::date_time(now),
        "userId": user.map(|u| u.id.as_str()),
        "userDisplayName": user.map(|u| u.display_name.as_str()),
        "userPrincipalName": user.map(|u| u.upn.as_str()).or(attempt.typed),
        "userType": user.map(|u| u.user_type.as_str()),
        "ipAddress": attempt.ip.map(|ip| ip.to_string()),
        "appId": attempt.app.map(|a| a.0),
        "appDisplayName": attempt.app.map(|a| a.1),
        "resourceTenantId": attempt.tenant.id,
        "homeTenantId": attempt.tenant.id,
        "clientAppUsed": "Browser",
        "protocol": attempt.protocol,
        "isInteractive": attempt.interactive,
        "identityProvider": attempt.idp.unwrap_or("Gatehouse"),
        "authenticationMethodsUsed": attempt.amr,
        "authenticationRequirement": if required_mfa || mfa {
            "multiFactorAuthentication"
        } else {
            "singleFactorAuthentication"
        },
        "conditionalAccessStatus": attempt.decision.map_or("notApplied", Decision::status),
        "appliedConditionalAccessPolicies": attempt.decision.map(|d| d.policies.clone()).unwrap_or_default(),
        "status": {
            "errorCode": attempt.error_code,
            "failureReason": attempt.reason,
            "result": attempt.status.as_str(),
        },
    });
    services
        .sign_in_log
        .append(SignIn {
            id,
            tenant_id: attempt.tenant.id.clone(),
            occurred_at: now,
            user_id: user.map(|u| u.id.clone()),
            app_id: attempt.app.map(|a| a.0.to_owned()),
            status: attempt.status.as_str().to_owned(),
            details,
        })
        .await?;
    Ok(())
}

/// How long a reader of the sign-in log waits for this node's queue to be written.
const FLUSH_BEFORE_READ: std::time::Duration = std::time::Duration::from_secs(2);

/// The tenant's sign-ins, newest first, including every one this node has appended so far
/// (its queue is flushed first). While the database does not take writes the flush gives up
/// after [`FLUSH_BEFORE_READ`] and the read answers as the database does (an outage: 503),
/// rather than holding the request.
pub async fn sign_ins(
    services: &Services,
    tenant_id: &str,
    filter: &SignInFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<SignIn>> {
    let _ = tokio::time::timeout(FLUSH_BEFORE_READ, services.sign_in_log.flush()).await;
    Ok(services
        .store
        .sign_ins(tenant_id, filter, limit, offset)
        .await?)
}
