//! The journey's second-factor steps: the TOTP challenge (or a recovery code), enrolment at
//! the first challenge (QR code, otpauth URI, manual key, confirming code, ten recovery
//! codes), and for a guest's first enrolment the proof of the invited mailbox.
//!
//! Rules (SECURITY.md H.71–75): a code is accepted once (the store accepts each time step
//! once per authenticator, atomically); wrong codes are throttled with a growing delay and
//! the user is told by mail after five; enrolment needs a primary sign-in of the last ten
//! minutes; a mailed passcode is never a second factor. While a transaction waits for the
//! second factor, a form for any later step is refused with 403.

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::pages::{LoginForm, login_url};
use super::passcode;
use super::session::{self, Authentication};
use super::throttle::Throttle;
use super::totp;
use super::{ACR_MFA, Evidence, Step, Transaction, see_other};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::{User, UserType};
use crate::error::{AppError, ErrorPage};
use crate::mail::compose::{self, Language, Notice};
use crate::startup::AppState;
use crate::store::TotpMethod;
use crate::web::Page;

/// `amr` of a TOTP code (RFC 8176).
pub const AMR_OTP: &str = "otp";
/// `amr` of a multi-factor sign-in (RFC 8176).
pub const AMR_MFA: &str = "mfa";
/// Wrong codes before delays start (the fifth also mails a notice).
const FREE_FAILURES: u64 = 4;
/// Wrong codes after which the factor is locked for an hour.
const LOCKOUT: u64 = 20;
/// Passcode purpose of the mailbox proof.
const MAILBOX_PURPOSE: &str = "mfa-enrol";

/// Whether `step` is one of the second-factor steps.
pub fn is_mfa_step(step: &Step) -> bool {
    matches!(
        step,
        Step::Mfa { .. }
            | Step::MfaMailbox { .. }
            | Step::MfaEnroll { .. }
            | Step::MfaRecovery { .. }
    )
}

fn language(tenant: &Tenant) -> Language {
    Language::from_tag(Some(&tenant.settings.default_message_language))
}

/// Queues a security notice to the user.
pub async fn notify(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    notice: Notice,
) -> Result<(), AppError> {
    let message = compose::notice(
        &tenant.id,
        &tenant.name,
        &user.email,
        notice,
        language(tenant),
    )
    .map_err(|e| AppError::Internal(e.into()))?;
    state
        .store
        .enqueue_mail(&state.mailer.seal(message)?)
        .await?;
    state.mailer.wake();
    Ok(())
}

/// The step that starts the second factor for a signed-in user: the challenge when an
/// authenticator exists; otherwise enrolment — after a fresh primary sign-in when the last
/// one is old, and after a mailbox proof for a guest's first authenticator.
pub async fn first_step(
    state: &AppState,
    tenant: &Tenant,
    evidence: &Evidence,
    ip: Option<IpAddr>,
) -> Result<Step, AppError> {
    let session_id = evidence.session_id.clone();
    if !state
        .store
        .totp_methods(&evidence.user.id)
        .await?
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
    state: &AppState,
    tenant: &Tenant,
    evidence: &Evidence,
    ip: Option<IpAddr>,
) -> Result<Step, AppError> {
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
        .await?
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
        )
        .await?;
        return Ok(Step::MfaMailbox { session_id });
    }
    new_enrolment(state, session_id)
}

/// A guest's mailbox is proven by a passcode sign-in (or redemption) within the enrolment
/// window.
fn mailbox_proven(evidence: &Evidence, now: i64, window: i64) -> bool {
    evidence.amr.iter().any(|m| m == super::redeem::AMR_EMAIL) && now - evidence.auth_time <= window
}

fn new_enrolment(state: &AppState, session_id: String) -> Result<Step, AppError> {
    Ok(Step::MfaEnroll {
        session_id,
        sealed_secret: state.master.seal(&totp::new_secret())?,
    })
}

fn expired() -> AppError {
    ErrorPage::bad_request(
        "Sign-in expired",
        "This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.",
    )
    .into()
}

/// The signed-in evidence a second-factor step belongs to; anything else is expired.
async fn step_evidence(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    session_id: &str,
) -> Result<Evidence, AppError> {
    let requirements = super::Requirements::default();
    super::session_evidence(state, headers, tenant, &requirements)
        .await?
        .filter(|e| e.session_id == session_id)
        .ok_or_else(expired)
}

/// What a submitted code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// A TOTP code, accepted (and now spent).
    Totp,
    /// A recovery code, accepted (and now spent).
    Recovery,
    /// Wrong, replayed or expired.
    Wrong,
    /// Too many wrong codes: wait this many seconds.
    Throttled(u64),
}

fn throttles(user: &User, ip: IpAddr) -> [Throttle; 2] {
    [
        Throttle {
            key: format!("totp:{}", user.id),
            free: FREE_FAILURES,
            lockout: LOCKOUT,
        },
        Throttle {
            key: format!("totpip:{ip}"),
            free: FREE_FAILURES * 10,
            lockout: LOCKOUT * 10,
        },
    ]
}

/// Checks a second-factor code (TOTP, or a recovery code) for `user`, throttled per user
/// and per client address; after the fifth wrong code in a row the user gets a notice.
pub async fn verify(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    code: &str,
    ip: IpAddr,
) -> Result<Verified, AppError> {
    let throttles = throttles(user, ip);
    for throttle in &throttles {
        if let Some(wait) = throttle.wait(state.ephemeral.as_ref()).await? {
            return Ok(Verified::Throttled(wait));
        }
    }
    // Every attempt is counted atomically *before* the code is checked, so parallel guesses
    // cannot all slip past the lock above: at most LOCKOUT attempts per user (and ten times
    // that per address) an hour, whatever the concurrency.
    let hour = std::time::Duration::from_secs(3600);
    let by_user = state
        .ephemeral
        .incr(&format!("totpattempt:{}", user.id), hour)
        .await?;
    let by_address = state
        .ephemeral
        .incr(&format!("totpattempt-ip:{ip}"), hour)
        .await?;
    if by_user > LOCKOUT || by_address > LOCKOUT * 10 {
        return Ok(Verified::Throttled(hour.as_secs()));
    }
    let now = unix_now();
    let verified = if totp::is_totp_code(code) {
        let mut accepted = false;
        for method in state.store.totp_methods(&user.id).await? {
            if accept_totp(state, &method, code, now).await? {
                accepted = true;
                break;
            }
        }
        if accepted {
            Verified::Totp
        } else {
            Verified::Wrong
        }
    } else if !code.trim().is_empty()
        && code.len() <= 64
        && state
            .store
            .use_recovery_code(&user.id, &totp::recovery_code_hash(code), now)
            .await?
    {
        Verified::Recovery
    } else {
        Verified::Wrong
    };
    if verified == Verified::Wrong {
        let failures = throttles[0].fail(state.ephemeral.as_ref()).await?;
        throttles[1].fail(state.ephemeral.as_ref()).await?;
        tracing::info!(tenant = %tenant.slug, user = %user.id, "second factor refused");
        if failures == FREE_FAILURES + 1 {
            notify(state, tenant, user, Notice::RepeatedFailures).await?;
        }
    } else {
        throttles[0].succeed(state.ephemeral.as_ref()).await?;
        state
            .ephemeral
            .delete(&format!("totpattempt:{}", user.id))
            .await?;
    }
    Ok(verified)
}

/// Whether `code` is the method's code for a step within ±1 of now that was not used
/// before; the step is then spent (atomically: of parallel submissions one wins).
async fn accept_totp(
    state: &AppState,
    method: &TotpMethod,
    code: &str,
    now: i64,
) -> Result<bool, AppError> {
    let secret = state
        .master
        .open(&method.sealed_secret)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("TOTP secret cannot be opened: {e}")))?;
    let Some(step) = totp::matching_step(&secret, code, now.max(0) as u64)? else {
        return Ok(false);
    };
    Ok(state.store.accept_totp_step(&method.id, step, now).await?)
}

/// Upgrades the browser's session after a second factor: a new session (and cookie value)
/// whose evidence adds `otp`/`mfa` and the MFA `acr`.
pub async fn upgrade_session(
    state: &AppState,
    headers: &HeaderMap,
    evidence: Evidence,
    method: Verified,
) -> Result<(Evidence, axum::http::HeaderValue), AppError> {
    let mut amr = evidence.amr.clone();
    if method == Verified::Totp && !amr.iter().any(|m| m == AMR_OTP) {
        amr.push(AMR_OTP.to_owned());
    }
    if !amr.iter().any(|m| m == AMR_MFA) {
        amr.push(AMR_MFA.to_owned());
    }
    let how = Authentication {
        amr,
        acr: ACR_MFA.to_owned(),
        idp: evidence.idp.clone(),
        auth_time: None,
    };
    session::establish(state, headers, evidence.user, how).await
}

/// Handles a form posted while the transaction is at a second-factor step.
pub async fn post_step(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &Tenant,
    mut transaction: Transaction,
    form: LoginForm,
    ip: IpAddr,
) -> Result<Response, AppError> {
    let here = login_url(&tenant.slug, &transaction.id);
    match (form.intent(), transaction.step.clone()) {
        ("totp", Step::Mfa { session_id }) => {
            let evidence = step_evidence(state, headers, tenant, &session_id).await?;
            let code = form.code.unwrap_or_default();
            match verify(state, tenant, &evidence.user, &code, ip).await? {
                Verified::Throttled(wait) => {
                    let message =
                        format!("Too many wrong codes. Wait {wait} seconds and try again.");
                    let page = render(state, tenant, &transaction, headers, Some(&message)).await?;
                    Ok((StatusCode::TOO_MANY_REQUESTS, page).into_response())
                }
                Verified::Wrong => {
                    super::record_failure(
                        state,
                        tenant,
                        &transaction.request,
                        Some(&evidence.user),
                        None,
                        &evidence.amr,
                        "Authentication failed during strong authentication request.",
                        500121,
                    )
                    .await?;
                    let message =
                        "That code is not right. Codes work once and change every 30 seconds.";
                    render(state, tenant, &transaction, headers, Some(message)).await
                }
                method => {
                    let user = evidence.user.id.clone();
                    let (evidence, cookie) =
                        upgrade_session(state, headers, evidence, method).await?;
                    tracing::info!(tenant = %tenant.slug, %user, "second factor accepted");
                    transaction.delete(state).await?;
                    let mut response = super::finish(
                        state,
                        headers,
                        tenant,
                        &transaction.request,
                        &evidence,
                        false,
                    )
                    .await?;
                    response.headers_mut().append(header::SET_COOKIE, cookie);
                    Ok(response)
                }
            }
        }
        ("mailbox_code", Step::MfaMailbox { session_id }) => {
            let evidence = step_evidence(state, headers, tenant, &session_id).await?;
            let code = form.code.unwrap_or_default();
            if !passcode::verify(state, tenant, &evidence.user.email, MAILBOX_PURPOSE, &code)
                .await?
            {
                let message = "That code is not right or has expired.";
                return render(state, tenant, &transaction, headers, Some(message)).await;
            }
            transaction.step = new_enrolment(state, session_id)?;
            transaction.save(state).await?;
            Ok(see_other(&here))
        }
        ("mailbox_send", Step::MfaMailbox { session_id }) => {
            let evidence = step_evidence(state, headers, tenant, &session_id).await?;
            let sent = passcode::send(
                state,
                tenant,
                &evidence.user.email,
                MAILBOX_PURPOSE,
                Some(ip),
                true,
            )
            .await?;
            if sent == passcode::Sent::Throttled {
                let message = "Too many codes were requested. Wait a while and try again.";
                return render(state, tenant, &transaction, headers, Some(message)).await;
            }
            Ok(see_other(&here))
        }
        (
            "enroll",
            Step::MfaEnroll {
                session_id,
                sealed_secret,
            },
        ) => {
            let evidence = step_evidence(state, headers, tenant, &session_id).await?;
            let code = form.code.unwrap_or_default();
            let secret = state.master.open(&sealed_secret).map_err(|_| expired())?;
            let now = unix_now();
            let Some(step) = totp::matching_step(&secret, &code, now.max(0) as u64)? else {
                let message = "That code is not right. Check the time on your phone and enter the current code.";
                return render(state, tenant, &transaction, headers, Some(message)).await;
            };
            // Claim the enrolment once (a double submission must not store the secret twice,
            // which would let one code be accepted by each copy).
            let claims = state
                .ephemeral
                .incr(
                    &format!("enrolclaim:{}", transaction.id),
                    std::time::Duration::from_secs(state.config.tokens.transaction_ttl),
                )
                .await?;
            if claims > 1 {
                return Err(expired());
            }
            let codes = enrol(state, tenant, &evidence.user, &sealed_secret, step, now).await?;
            let (evidence, cookie) =
                upgrade_session(state, headers, evidence, Verified::Totp).await?;
            if codes.is_empty() {
                transaction.delete(state).await?;
                let mut response = super::finish(
                    state,
                    headers,
                    tenant,
                    &transaction.request,
                    &evidence,
                    false,
                )
                .await?;
                response.headers_mut().append(header::SET_COOKIE, cookie);
                return Ok(response);
            }
            transaction.step = Step::MfaRecovery {
                session_id: evidence.session_id.clone(),
                sealed_codes: state.master.seal(codes.join(" ").as_bytes())?,
            };
            transaction.save(state).await?;
            let mut response = see_other(&here);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            Ok(response)
        }
        ("recovery_saved", Step::MfaRecovery { session_id, .. }) => {
            let evidence = step_evidence(state, headers, tenant, &session_id).await?;
            transaction.delete(state).await?;
            super::finish(
                state,
                headers,
                tenant,
                &transaction.request,
                &evidence,
                false,
            )
            .await
        }
        ("restart", _) => {
            transaction.step = Step::Identify;
            transaction.save(state).await?;
            Ok(see_other(&here))
        }
        // A form of any other step while the second factor is pending: no skipping ahead.
        _ => Err(AppError::Forbidden(
            "the second factor has not been verified",
        )),
    }
}

/// Stores a confirmed authenticator (its confirming step spent) and, on the first one, ten
/// recovery codes; mails a notice. Returns the recovery codes to show (empty when the user
/// already had some).
pub async fn enrol(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    sealed_secret: &str,
    step: i64,
    now: i64,
) -> Result<Vec<String>, AppError> {
    let first = state.store.totp_methods(&user.id).await?.is_empty();
    let codes = if first {
        totp::new_recovery_codes()
    } else {
        Vec::new()
    };
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    let method = TotpMethod {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        display_name: "Authenticator app".to_owned(),
        sealed_secret: sealed_secret.to_owned(),
        last_step: step,
        created_at: now,
        last_used_at: Some(now),
    };
    state
        .store
        .add_totp_method(&method, first.then_some(hashes.as_slice()))
        .await?;
    tracing::info!(tenant = %tenant.slug, user = %user.id, "authenticator enrolled");
    notify(state, tenant, user, Notice::MethodAdded).await?;
    Ok(codes)
}

/// Renders the page of a second-factor step.
pub async fn render(
    state: &AppState,
    tenant: &Tenant,
    transaction: &Transaction,
    headers: &HeaderMap,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let action = format!("/{}/login", tenant.slug);
    let base = minijinja::context! {
        action, error,
        tenant_name => &tenant.name,
        app_name => transaction.request.app_name(),
        tx => &transaction.id, csrf => &transaction.csrf,
    };
    let context = match &transaction.step {
        Step::Mfa { session_id } => {
            let evidence = step_evidence(state, headers, tenant, session_id).await?;
            minijinja::context! { step => "totp", title => "Enter your verification code",
            email => evidence.user.email, ..base }
        }
        Step::MfaMailbox { session_id } => {
            let evidence = step_evidence(state, headers, tenant, session_id).await?;
            minijinja::context! { step => "mailbox_code", title => "Confirm your email address",
            email => evidence.user.email, ..base }
        }
        Step::MfaEnroll {
            session_id,
            sealed_secret,
        } => {
            let evidence = step_evidence(state, headers, tenant, session_id).await?;
            let secret = state.master.open(sealed_secret).map_err(|_| expired())?;
            let enrolment = totp::enrolment(&secret, &tenant.name, &evidence.user.email)?;
            minijinja::context! { step => "enroll", title => "Set up your authenticator app",
            email => evidence.user.email,
            qr_svg => minijinja::Value::from_safe_string(enrolment.qr_svg),
            otpauth_uri => enrolment.uri, manual_key => enrolment.manual_key, ..base }
        }
        Step::MfaRecovery {
            session_id,
            sealed_codes,
        } => {
            step_evidence(state, headers, tenant, session_id).await?;
            let codes = state.master.open(sealed_codes).map_err(|_| expired())?;
            let codes: Vec<String> = String::from_utf8_lossy(&codes)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            minijinja::context! { step => "recovery_saved", title => "Save your recovery codes", codes, ..base }
        }
        _ => return Err(expired()),
    };
    let page = Page::new("mfa.html", context)?;
    Ok(page
        .form_target(transaction.request.return_url())
        .into_response())
}
