//! Home-realm discovery at the password step: a guest bound to a partner IdP or a home
//! tenant on this Gatehouse signs in there, and a guest who signs in with mailed codes only is
//! sent a code instead of a password page.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::passcode;
use super::{Notice, Step, Transaction};
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::i18n::Text;
use crate::pages::TransactionPage as _;
use crate::services::AppState;
use crate::store::StoreError;
use crate::web::error::AppError;

/// What home-realm discovery found for an address at the password step.
pub(super) enum Discovered {
    /// The browser goes to sign in elsewhere (home tenant or partner IdP).
    Elsewhere(Response),
    /// It signs in here: the transaction, moved to a code step for a code-only guest.
    Here(Box<Transaction>),
}

/// Home-realm discovery at the password step: a guest bound to a home tenant or a partner IdP
/// signs in there; a guest who signs in with mailed codes only is sent a code.
pub(super) async fn discover(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    email: String,
) -> Result<Discovered, AppError> {
    match realm_of(state, tenant, &email).await? {
        Some(Realm::Home(home, home_user)) => {
            let response = super::home::go_home(
                state,
                headers,
                tenant,
                transaction,
                &home,
                &email,
                Some(home_user),
            )
            .await?;
            return Ok(Discovered::Elsewhere(response));
        }
        Some(Realm::Partner(partner)) => {
            let response =
                crate::pages::federation::start(state, tenant, transaction, &partner, &email)
                    .await?;
            return Ok(Discovered::Elsewhere(response));
        }
        None => {}
    }
    if let Some(user) = code_sign_in_user(state, tenant, &email).await?
        && user.password_hash.is_none()
    {
        let ip = crate::web::client_address::current();
        let locale = transaction.locale(headers, Some(&user));
        let sent = passcode::send(state, tenant, &email, SIGN_IN_CODE, ip, true, locale).await?;
        transaction.step = Step::EmailCode { email };
        if sent == passcode::Sent::Throttled {
            transaction.notice = Some(Notice {
                text: Text::new("code-error-too-many-sends"),
                status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
            });
        }
        transaction.save(state).await?;
    }
    Ok(Discovered::Here(Box::new(transaction)))
}

/// Where a guest bound to an upstream identity provider signs in.
enum Realm {
    /// A home tenant on this Gatehouse, with the guest's object id there.
    Home(std::sync::Arc<Tenant>, String),
    /// A partner identity provider of the tenant.
    Partner(Box<crate::domain::partner::PartnerIdp>),
}

/// The realm of the tenant's guest with this address, if bound to an upstream IdP.
async fn realm_of(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
) -> Result<Option<Realm>, AppError> {
    // The user and its identities in one statement.
    let (user, identities) = match state
        .store
        .user_with_identities_by_email(&tenant.id, &email.to_ascii_lowercase())
        .await
    {
        // By the identities, not the userType: a guest made a Member keeps signing in at home.
        Ok((user, identities)) if user.account_enabled => (user, identities),
        Ok(_) | Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // A registered partner IdP is explicit configuration: it comes first.
    let partners = state.directory.partners(&tenant.id).await?;
    if let Some(partner) = partners
        .iter()
        .find(|p| identities.iter().any(|i| i.issuer == p.issuer))
    {
        return Ok(Some(Realm::Partner(Box::new(partner.clone()))));
    }
    Ok(super::home::bound_home(state, &user)
        .await?
        .map(|(home, home_user)| Realm::Home(home, home_user)))
}

/// The purpose of sign-in passcodes.
pub(super) const SIGN_IN_CODE: &str = "signin";

/// The user who may sign in with a mailed passcode: an invited user who redeemed and is
/// enabled. Anyone else gets the same page but no code.
pub(super) async fn code_sign_in_user(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
) -> Result<Option<User>, AppError> {
    match state
        .store
        .user_by_email(&tenant.id, &email.to_ascii_lowercase())
        .await
    {
        Ok(user)
            if user.account_enabled
                && user.creation_type.as_deref() == Some("Invitation")
                && user.external_user_state
                    == Some(crate::domain::user::ExternalUserState::Accepted) =>
        {
            // Only guests who redeemed with a passcode keep signing in with one; a guest
            // bound to a home identity provider signs in there.
            let by_mail = state
                .store
                .identities(&user.id)
                .await?
                .iter()
                .any(|i| i.issuer == super::redeem::IDP_MAIL);
            Ok(by_mail.then_some(user))
        }
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
