//! Tenants on this Gatehouse as home identities (issue "guest federation"): a guest whose
//! address belongs to a verified domain of another tenant redeems and signs in *there*, as a
//! member under that tenant's own policies, and comes back with a [`HomeProof`].
//!
//! The resource tenant's transaction waits at [`Step::AwayHome`] while the browser signs in
//! at home through the ordinary journey (a [`ProtocolRequest::Home`]); the home tenant's back
//! door ([`complete`]) checks who signed in — the invited address for a redemption, the bound
//! home object id for a sign-in, never an address alone (SECURITY.md G.53) — and parks the
//! proof in the resource transaction, which only the same browser can resume ([`resume`]).
//! Both tenants write the sign-in to their logs.

pub use crate::domain::signin::{AMR_FEDERATED, HomeProof, HomeRequest};
use axum::http::HeaderMap;
use axum::response::Response;

use super::login::login_url;
use super::session::Authentication;
use super::{
    ACR_MFA, ACR_SFA, Evidence, ProtocolRequest, SessionCheck, Step, Transaction, see_other,
};
use crate::domain::tenant::Tenant;
use crate::domain::user::UserType;
use crate::i18n::Text;
use crate::pages::TransactionPage as _;
use crate::services::AppState;
use crate::web::error::{AppError, ErrorPage};

pub use crate::domain::user::SIGN_IN_FEDERATED;

pub use crate::services::home::{bound_home_among, home_tenant_for, is_local_issuer};

/// Parks the resource transaction and sends the browser to sign in at `home` (with its
/// session there, if it has one).
pub async fn go_home(
    state: &AppState,
    headers: &HeaderMap,
    resource: &Tenant,
    mut transaction: Transaction,
    home: &Tenant,
    email: &str,
    expected_user: Option<String>,
) -> Result<Response, AppError> {
    transaction.step = Step::AwayHome {
        home_tenant_id: home.id.clone(),
    };
    transaction.save(state).await?;
    // What the resource's request demands of the authentication is demanded at home.
    let demands = transaction.request.requirements();
    let request = ProtocolRequest::Home(HomeRequest {
        fresh_login: demands.fresh_login,
        max_age: demands.max_age,
        resource_tenant_id: resource.id.clone(),
        resource_slug: resource.slug.clone(),
        resource_name: resource.name.clone(),
        resource_tx: transaction.id.clone(),
        email: email.to_owned(),
        expected_user,
        ui_locales: transaction.ui_locales.clone(),
        return_url: format!(
            "{}{}",
            state.config.base_url(),
            login_url(&resource.slug, &transaction.id)
        ),
    });
    tracing::info!(resource = %resource.slug, home = %home.slug, "guest sent to the home tenant");
    super::start(state, headers, home, request, SessionCheck::Now).await
}

fn refused(message: Text) -> AppError {
    ErrorPage::new(
        axum::http::StatusCode::FORBIDDEN,
        "error-not-invited-title",
        message,
    )
    .into()
}

fn expired() -> AppError {
    ErrorPage::bad_request("error-expired-title", Text::new("error-federation-expired")).into()
}

/// The home tenant's back door: checks who signed in and hands the proof to the waiting
/// resource transaction.
pub async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    home: &Tenant,
    request: &HomeRequest,
    evidence: &Evidence,
) -> Result<Response, AppError> {
    let user = &evidence.user;
    let other_account = || {
        Text::new("error-home-other-account")
            .arg("home", &home.name)
            .arg("account", &user.email)
            .arg("org", &request.resource_name)
    };
    if user.user_type != UserType::Member {
        return Err(refused(other_account()));
    }
    match &request.expected_user {
        Some(expected) if expected != &user.id => {
            return Err(refused(other_account()));
        }
        None if !user.email.eq_ignore_ascii_case(&request.email) => {
            return Err(refused(
                Text::new("error-home-wrong-invitee")
                    .arg("home", &home.name)
                    .arg("account", &user.email)
                    .arg("email", &request.email),
            ));
        }
        _ => {}
    }
    let Some(mut transaction) = Transaction::load(state, &request.resource_tx).await? else {
        return Err(expired());
    };
    let waiting = Step::AwayHome {
        home_tenant_id: home.id.clone(),
    };
    if transaction.tenant_id != request.resource_tenant_id
        || transaction.step != waiting
        || !transaction.is_bound_to(state, headers)
    {
        return Err(expired());
    }
    transaction.step = Step::HomeReturned {
        proof: HomeProof {
            tenant_id: home.id.clone(),
            tenant_slug: home.slug.clone(),
            issuer: state.issuer(&home.slug),
            user_id: user.id.clone(),
            email: user.email.clone(),
            amr: evidence.amr.clone(),
            auth_time: evidence.auth_time,
        },
    };
    transaction.save(state).await?;
    Ok(see_other(&login_url(
        &request.resource_slug,
        &transaction.id,
    )))
}

/// How the resource tenant counts a home sign-in: federated, and multi-factor only when it
/// trusts the home tenant's MFA and the member did MFA there (SECURITY.md G.56).
pub fn authentication(resource: &Tenant, proof: &HomeProof) -> Authentication {
    let trusted = resource
        .settings
        .mfa_trusted_tenants
        .iter()
        .any(|slug| slug == &proof.tenant_slug);
    let mfa = trusted && proof.amr.iter().any(|m| m == "mfa");
    let mut amr = vec![AMR_FEDERATED.to_owned()];
    if mfa {
        amr.push("mfa".to_owned());
    }
    Authentication {
        amr,
        acr: if mfa { ACR_MFA } else { ACR_SFA }.to_owned(),
        idp: Some(proof.issuer.clone()),
        auth_time: Some(proof.auth_time),
    }
}

/// The resource side, when the browser is back from its home tenant: a redemption goes on
/// to consent; a sign-in finds the guest bound to that home identity and continues.
pub async fn resume(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: Transaction,
    proof: HomeProof,
) -> Result<Response, AppError> {
    let how = authentication(tenant, &proof);
    let upstream = super::Upstream {
        issuer: proof.issuer,
        subject: proof.user_id,
        // A member's address at a tenant that verified its domain is authoritative.
        verified_email: Some(proof.email.clone()),
        asserted_email: Some(proof.email.clone()),
        amr: how.amr,
        acr: how.acr,
        auth_time: how.auth_time,
    };
    let refusal = Text::new("error-no-guest-account").arg("who", &proof.email);
    super::continue_upstream(state, headers, tenant, transaction, upstream, refusal).await
}
