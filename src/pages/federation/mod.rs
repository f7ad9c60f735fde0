//! Gatehouse as the relying party of guests' home identity providers (partner IdPs): parking
//! a sign-in while the guest signs in at home, and taking the answer back into the journey.
//! The HTTP client toward partners and their cached metadata are [`crate::upstream`].

pub mod oidc;
pub mod saml;

use axum::http::HeaderMap;
use axum::response::Response;

use crate::domain::partner::{PartnerIdp, PartnerKind};
use crate::domain::tenant::Tenant;
use crate::i18n::Text;
use crate::pages::TransactionPage as _;
use crate::pages::{self, Transaction, Upstream};
use crate::services::AppState;
use crate::upstream::UpstreamError;
use crate::web::error::{AppError, ErrorPage};

/// Parks the transaction and sends the browser to sign in at `partner`, in its protocol.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    transaction: Transaction,
    partner: &PartnerIdp,
    login_hint: &str,
) -> Result<Response, AppError> {
    match partner.kind {
        PartnerKind::Oidc => oidc::start(state, tenant, transaction, partner, login_hint).await,
        PartnerKind::Saml => saml::start(state, tenant, transaction, partner, login_hint).await,
    }
}

/// Parks the transaction at `partner` (where [`waiting_transaction`] finds it again) and sends
/// the browser to `url`, the partner's sign-in.
pub(crate) async fn send_away(
    state: &AppState,
    tenant: &Tenant,
    mut transaction: Transaction,
    partner: &PartnerIdp,
    url: &str,
) -> Result<Response, AppError> {
    transaction.step = pages::Step::AwayFederated {
        partner_id: partner.id.clone(),
    };
    transaction.save(state).await?;
    tracing::info!(tenant = %tenant.slug, partner = %partner.id, protocol = ?partner.kind, "guest sent to the partner identity provider");
    Ok(pages::see_other(url))
}

/// The transaction that went to `partner_id` from this browser, and that partner: the
/// answer's record (`tenant_id`, `transaction_id`) must name this tenant, the transaction must
/// still wait at that partner and be bound to this browser's cookie; otherwise
/// [`expired`].
pub(crate) async fn waiting_transaction(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    tenant_id: &str,
    transaction_id: &str,
    partner_id: &str,
) -> Result<(Transaction, PartnerIdp), AppError> {
    let Some(transaction) = Transaction::load(state, transaction_id).await? else {
        return Err(expired());
    };
    let waiting = pages::Step::AwayFederated {
        partner_id: partner_id.to_owned(),
    };
    if tenant_id != tenant.id
        || transaction.tenant_id != tenant.id
        || transaction.step != waiting
        || !transaction.is_bound_to(state, headers)
    {
        return Err(expired());
    }
    match state.directory.partner(&tenant.id, partner_id).await? {
        Some(partner) => Ok((transaction, partner)),
        None => Err(expired()),
    }
}

/// Takes the single-use record an upstream answer names (`raw`: its state, RelayState or
/// handle; `key` makes the ephemeral-store key of it). A missing, oversized, unknown or
/// already used one is [`expired`].
pub(crate) async fn take_once<T: serde::de::DeserializeOwned>(
    state: &AppState,
    raw: Option<&str>,
    key: fn(&str) -> String,
) -> Result<T, AppError> {
    let Some(raw) = raw.filter(|r| r.len() <= 256) else {
        return Err(expired());
    };
    crate::ephemeral::Json(state.ephemeral.as_ref())
        .take::<T>(&key(raw))
        .await?
        .ok_or_else(expired)
}

/// Clock skew allowed when comparing upstream authentication times with ours.
pub(crate) const SKEW_SECONDS: i64 = 60;

/// What an upstream sign-in proved, in either protocol.
#[derive(Debug)]
pub(crate) struct UpstreamProof {
    /// The subject at the partner (OIDC `sub`, SAML persistent NameID).
    pub subject: String,
    /// The address the partner asserted, and whether it asserted it as verified.
    pub email: Option<(String, bool)>,
    /// When the user authenticated there, if it said.
    pub auth_time: Option<i64>,
    /// The partner's authentication-method values (OIDC `amr` and `acr`, SAML
    /// AuthnContextClassRef).
    pub methods: Vec<String>,
}

/// What the request that went to the partner demanded of the authentication's age.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    /// When the flow to the partner started.
    pub started_at: i64,
    /// A fresh sign-in was demanded (prompt=login, ForceAuthn, max_age=0).
    pub fresh_login: bool,
    /// The oldest authentication accepted, in seconds.
    pub max_age: Option<i64>,
}

/// Checks `proof` against what the request demanded and counts it as this tenant does: `amr`
/// `fed`, plus `mfa` when the tenant trusts the partner's MFA and one of its configured values
/// was asserted. `Err` is the reason for the log.
pub(crate) fn upstream(
    partner: &PartnerIdp,
    proof: UpstreamProof,
    demanded: Freshness,
) -> Result<Upstream, &'static str> {
    if demanded.fresh_login
        && proof
            .auth_time
            .is_none_or(|t| t < demanded.started_at - SKEW_SECONDS)
    {
        return Err(
            "the partner did not authenticate the user again (a fresh sign-in was demanded)",
        );
    }
    let now = crate::domain::unix_now();
    if let Some(max_age) = demanded.max_age
        && proof
            .auth_time
            .is_none_or(|t| now - t > max_age + SKEW_SECONDS)
    {
        return Err("the partner's authentication is older than max_age");
    }
    let mfa_values = partner.mfa_values();
    let mfa = partner.trust_mfa && proof.methods.iter().any(|m| mfa_values.contains(m));
    let mut amr = vec![crate::pages::home::AMR_FEDERATED.to_owned()];
    if mfa {
        amr.push("mfa".to_owned());
    }
    let verified_email = proof
        .email
        .as_ref()
        .filter(|(_, verified)| *verified)
        .map(|(email, _)| email.clone());
    Ok(Upstream {
        issuer: partner.issuer.clone(),
        subject: proof.subject,
        verified_email,
        asserted_email: proof.email.map(|(email, _)| email),
        amr,
        acr: if mfa { pages::ACR_MFA } else { pages::ACR_SFA }.to_owned(),
        auth_time: proof.auth_time,
    })
}

/// The page shown when a partner IdP cannot be reached (its reason is logged, not shown).
pub(crate) fn unreachable_page(error: UpstreamError) -> AppError {
    tracing::warn!(error = %error, "partner identity provider unavailable");
    ErrorPage::new(
        axum::http::StatusCode::BAD_GATEWAY,
        "error-upstream-down-title",
        Text::new("error-upstream-down"),
    )
    .into()
}

/// The page shown when an upstream answer matches no sign-in in progress in this browser.
pub(crate) fn expired() -> AppError {
    ErrorPage::bad_request("error-expired-title", Text::new("error-federation-expired")).into()
}

/// The page shown when an upstream answer is refused (`message`: a catalogue id).
pub(crate) fn refused(message: &str) -> AppError {
    ErrorPage::new(
        axum::http::StatusCode::FORBIDDEN,
        "error-refused-title",
        Text::new(message),
    )
    .into()
}

/// Continues the waiting transaction: a redemption binds only an identity whose verified
/// address is the invited one; a sign-in finds the guest bound to (issuer, subject).
pub(crate) async fn resume(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    transaction: Transaction,
    partner: &PartnerIdp,
    upstream: Upstream,
) -> Result<Response, AppError> {
    if let pages::ProtocolRequest::Redeem(request) = &transaction.request
        && !pages::held::confirms(&upstream, &request.email)
    {
        tracing::info!(tenant = %tenant.slug, partner = %partner.id, "partner did not assert the invited address as verified");
        if !pages::held::holds(tenant) {
            return Err(pages::held::refusal(
                Some(&partner.display_name),
                &request.email,
                transaction.locale(headers, None),
            ));
        }
        // Held for approval: the guest still reviews the consent; redemption then records
        // the request instead of binding.
    }
    let refusal = Text::new("error-no-guest-account-partner").arg("partner", &partner.display_name);
    pages::continue_upstream(state, headers, tenant, transaction, upstream, refusal).await
}
