//! The second factor's first step for a signed-in user (challenge, or enrolment after a
//! fresh sign-in or a guest's mailbox proof) and the mail a user gets about their factors.

use std::net::IpAddr;

use super::{passcode, totp};
use crate::domain::signin::{AMR_EMAIL, Evidence, Step};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::{User, UserType};
use crate::i18n::Locale;
use crate::mail::compose::{self, Notice};
use crate::services::{Error, Result, Services};

/// Passcode purpose of the mailbox proof.
pub const MAILBOX_PURPOSE: &str = "mfa-enrol";

/// The language of mail to `user`: the one remembered for the user, else the tenant's.
pub fn mail_locale(tenant: &Tenant, user: &User) -> Locale {
    user.preferred_language
        .as_deref()
        .and_then(Locale::from_tag)
        .or_else(|| Locale::from_tag(&tenant.settings.default_message_language))
        .unwrap_or_default()
}

/// Queues a security notice to the user.
pub async fn notify(state: &Services, tenant: &Tenant, user: &User, notice: Notice) -> Result<()> {
    let brand = compose::MailBrand::of(tenant, state.config.base_url());
    let message = compose::notice(
        &tenant.id,
        &brand,
        &user.email,
        notice,
        mail_locale(tenant, user),
    )
    .map_err(|e| Error::Internal(e.into()))?;
    state
        .store
        .enqueue_mail(&state.mailer.seal(message)?)
        .await
        .map_err(Error::unexpected)?;
    state.mailer.wake();
    Ok(())
}

/// The step that starts the second factor for a signed-in user: the challenge when an
/// authenticator exists; otherwise enrolment — after a fresh primary sign-in when the last
/// one is old, and after a mailbox proof for a guest's first authenticator.
pub async fn first_step(
    state: &Services,
    tenant: &Tenant,
    evidence: &Evidence,
    ip: Option<IpAddr>,
) -> Result<Step> {
    let session_id = evidence.session_id.clone();
    if !state
        .store
        .totp_methods(&evidence.user.id)
        .await
        .map_err(Error::unexpected)?
        .is_empty()
    {
        return Ok(Step::Mfa { session_id });
    }
    enrolment_step(state, tenant, evidence, ip).await
}

/// The step that enrols a (further) authenticator: a fresh primary sign-in first when the
/// last one is older than the enrolment window (`tokens.enrolment_window`), a mailbox proof first for a guest's first
/// authenticator, else the QR code.
pub async fn enrolment_step(
    state: &Services,
    tenant: &Tenant,
    evidence: &Evidence,
    ip: Option<IpAddr>,
) -> Result<Step> {
    let session_id = evidence.session_id.clone();
    let now = unix_now();
    let window = state.config.tokens.enrolment_window as i64;
    if now - evidence.auth_time > window {
        return Ok(Step::Password {
            email: evidence.user.email.clone(),
        });
    }
    let first = state
        .store
        .totp_methods(&evidence.user.id)
        .await
        .map_err(Error::unexpected)?
        .is_empty();
    if first && evidence.user.user_type == UserType::Guest && !mailbox_proven(evidence, now, window)
    {
        // (If too many codes were asked for, the page offers "send a new code", which
        // answers with the throttling message.)
        passcode::send(
            state,
            tenant,
            &evidence.user.email,
            MAILBOX_PURPOSE,
            ip,
            true,
            mail_locale(tenant, &evidence.user),
        )
        .await?;
        return Ok(Step::MfaMailbox { session_id });
    }
    new_enrolment(state, session_id)
}

/// A guest's mailbox is proven by a passcode sign-in (or redemption) within the enrolment
/// window.
fn mailbox_proven(evidence: &Evidence, now: i64, window: i64) -> bool {
    evidence.amr.iter().any(|m| m == AMR_EMAIL) && now - evidence.auth_time <= window
}

/// The enrolment step with a new TOTP secret, sealed with the master key.
pub fn new_enrolment(state: &Services, session_id: String) -> Result<Step> {
    Ok(Step::MfaEnroll {
        session_id,
        sealed_secret: state.master.seal(&totp::new_secret())?,
    })
}
