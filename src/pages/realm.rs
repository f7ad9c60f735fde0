//! Home-realm discovery at the password step: a guest bound to a partner IdP or a home
//! tenant on this Gatehouse signs in there, and a guest who signs in with mailed codes only is
//! sent a code instead of a password page.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::passcode;
use super::{Notice, Step, Transaction};
use crate::domain::tenant::Tenant;
use crate::domain::user::{Identity, User};
use crate::i18n::Text;
use crate::pages::TransactionPage as _;
use crate::services::AppState;
use crate::store::StoreError;
use crate::web::error::AppError;

/// What home-realm discovery found for an address at the password step.
pub(super) enum Discovered {
    /// The browser goes to sign in elsewhere (home tenant or partner IdP).
    Elsewhere(Response),
    /// It signs in here: the transaction, moved to a code step for a code-only guest, and the
    /// tenant's user with that address if there is one (the page speaks their language).
    Here(Box<Transaction>, Option<Box<User>>),
}

/// Home-realm discovery at the password step: a guest bound to a home tenant or a partner IdP
/// signs in there; a guest who signs in with mailed codes only is sent a code. The user and
/// their identities are read once, in one statement, for all of it.
pub(super) async fn discover(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    email: String,
) -> Result<Discovered, AppError> {
    let found = user_with_identities(state, tenant, &email).await?;
    if let Some((user, identities)) = &found {
        match realm_of(state, tenant, user, identities).await? {
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
    }
    if let Some((user, identities)) = &found
        && signs_in_with_code(user, identities)
        && user.password_hash.is_none()
    {
        let ip = crate::web::client_address::current();
        let locale = transaction.locale(headers, Some(user));
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
    Ok(Discovered::Here(
        Box::new(transaction),
        found.map(|(user, _)| Box::new(user)),
    ))
}

/// Where a guest bound to an upstream identity provider signs in.
enum Realm {
    /// A home tenant on this Gatehouse, with the guest's object id there.
    Home(std::sync::Arc<Tenant>, String),
    /// A partner identity provider of the tenant.
    Partner(Box<crate::domain::partner::PartnerIdp>),
}

/// The tenant's user with this address and their identities, in one statement.
async fn user_with_identities(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
) -> Result<Option<(User, Vec<Identity>)>, AppError> {
    match state
        .store
        .user_with_identities_by_email(&tenant.id, &email.to_ascii_lowercase())
        .await
    {
        Ok(found) => Ok(Some(found)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The realm of a guest bound to an upstream IdP, if `user` is one.
async fn realm_of(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    identities: &[Identity],
) -> Result<Option<Realm>, AppError> {
    if !user.account_enabled {
        return Ok(None);
    }
    // By the identities, not the userType: a guest made a Member keeps signing in at home.
    // A registered partner IdP is explicit configuration: it comes first.
    let partners = state.directory.partners(&tenant.id).await?;
    if let Some(partner) = partners
        .iter()
        .find(|p| identities.iter().any(|i| i.issuer == p.issuer))
    {
        return Ok(Some(Realm::Partner(Box::new(partner.clone()))));
    }
    Ok(super::home::bound_home_among(state, identities)
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
    Ok(user_with_identities(state, tenant, email)
        .await?
        .filter(|(user, identities)| signs_in_with_code(user, identities))
        .map(|(user, _)| user))
}

/// Whether `user` signs in with mailed passcodes: an invited user who redeemed, is enabled and
/// redeemed with a passcode (a guest bound to a home identity provider signs in there).
fn signs_in_with_code(user: &User, identities: &[Identity]) -> bool {
    user.account_enabled
        && user.creation_type.as_deref() == Some("Invitation")
        && user.external_user_state == Some(crate::domain::user::ExternalUserState::Accepted)
        && identities
            .iter()
            .any(|i| i.issuer == super::redeem::IDP_MAIL)
}
