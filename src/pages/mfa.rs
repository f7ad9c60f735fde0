//! The journey's second-factor steps: the TOTP challenge (or a recovery code), enrolment at
//! the first challenge (QR code, otpauth URI, manual key, confirming code, ten recovery
//! codes), and for a guest's first enrolment the proof of the invited mailbox.
//!
//! Rules (SECURITY.md H.71–75): a code is accepted once (the store accepts each time step
//! once per authenticator, atomically); wrong codes are throttled with a growing delay and
//! the user is told by mail after five; enrolment needs a primary sign-in of the last ten
//! minutes; a mailed passcode is never a second factor. While a transaction waits for the
//! second factor, a form for any later step is refused with 403.
//!
//! Only failures count towards a lock. Per account, each attempt is reserved before the code
//! is checked (so parallel guesses cannot slip past the limit) and given back when the code is
//! right; per client address only wrong codes count, against limits sized for a partner's NAT
//! of hundreds of people (`throttle.address_*`), and the page says which limit was hit.

pub use crate::domain::signin::{AMR_MFA, AMR_OTP};
use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::login::{LoginForm, login_url};
use super::passcode;
use super::session::{self, Authentication};
use super::throttle::Throttle;
use super::totp;
use super::{ACR_MFA, Evidence, Step, Transaction, see_other};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::i18n::Text;
use crate::mail::compose::Notice;
use crate::pages::TransactionPage as _;
use crate::services::AppState;
use crate::store::TotpMethod;
use crate::web::error::{AppError, ErrorPage};
use crate::web::{Chrome, Page};

/// Wrong codes before delays start (the fifth also mails a notice).
const FREE_FAILURES: u64 = 4;
/// Wrong codes after which the factor is locked for an hour.
const LOCKOUT: u64 = 20;

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

pub use crate::services::signin::factors::{
    MAILBOX_PURPOSE, enrolment_step, first_step, mail_locale, new_enrolment, notify,
};

fn expired() -> AppError {
    ErrorPage::bad_request("error-expired-title", Text::new("error-expired")).into()
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
    /// Too many wrong codes for this account: wait this many seconds.
    Throttled(u64),
    /// Too many wrong codes from this client address: wait this many seconds.
    AddressThrottled(u64),
}

impl Verified {
    /// What to tell the person when the code was not accepted.
    pub fn message(self) -> Text {
        match self {
            Self::Throttled(seconds) => Text::new("mfa-error-throttled").arg("seconds", seconds),
            Self::AddressThrottled(seconds) => {
                Text::new("mfa-error-address-throttled").arg("seconds", seconds)
            }
            Self::Totp | Self::Recovery | Self::Wrong => Text::new("mfa-error-wrong"),
        }
    }
}

/// The per-account and per-address throttles of second factors.
fn throttles(state: &AppState, user: &User, ip: IpAddr) -> (Throttle, Throttle) {
    let limits = &state.config.throttle;
    (
        Throttle {
            key: format!("totp:{}", user.id),
            free: FREE_FAILURES,
            lockout: LOCKOUT,
        },
        Throttle {
            key: format!("totpip:{ip}"),
            free: limits.address_free_failures,
            lockout: limits.address_lockout,
        },
    )
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
    let (account, address) = throttles(state, user, ip);
    if let Some(wait) = account.wait(state.ephemeral.as_ref()).await? {
        return Ok(Verified::Throttled(wait));
    }
    if let Some(wait) = address.wait(state.ephemeral.as_ref()).await? {
        return Ok(Verified::AddressThrottled(wait));
    }
    // Each attempt on the account is reserved atomically *before* the code is checked, so
    // parallel guesses cannot all slip past the lock above (at most LOCKOUT pending or wrong
    // codes per account an hour, whatever the concurrency); a right code gives its
    // reservation back, so correct codes never count towards a lock.
    let hour = std::time::Duration::from_secs(3600);
    let reservations = format!("totpattempt:{}", user.id);
    if state.ephemeral.incr(&reservations, hour).await? > LOCKOUT {
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
    let result = match verified {
        Verified::Totp => "totp",
        Verified::Recovery => "recovery",
        Verified::Wrong => "wrong",
        Verified::Throttled(_) | Verified::AddressThrottled(_) => "throttled",
    };
    metrics::counter!(crate::monitoring::MFA_CHALLENGES, "result" => result).increment(1);
    if verified == Verified::Wrong {
        let failures = account.fail(state.ephemeral.as_ref()).await?;
        address.fail(state.ephemeral.as_ref()).await?;
        tracing::info!(tenant = %tenant.slug, user = %user.id, "second factor refused");
        if failures == FREE_FAILURES + 1 {
            notify(state, tenant, user, Notice::RepeatedFailures).await?;
        }
    } else {
        // Right: the account's failures and reservations are forgotten; the address keeps
        // only its own failures (never a success).
        account.succeed(state.ephemeral.as_ref()).await?;
        state.ephemeral.delete(&reservations).await?;
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
    let step = StepContext {
        state,
        headers,
        tenant,
    };
    match (form.intent(), transaction.step.clone()) {
        ("totp", Step::Mfa { session_id }) => {
            let code = form.code.unwrap_or_default();
            step.totp(transaction, &session_id, &code, ip).await
        }
        ("mailbox_code", Step::MfaMailbox { session_id }) => {
            let code = form.code.unwrap_or_default();
            step.mailbox_code(transaction, session_id, &code).await
        }
        ("mailbox_send", Step::MfaMailbox { session_id }) => {
            step.mailbox_send(transaction, &session_id, ip).await
        }
        (
            "enroll",
            Step::MfaEnroll {
                session_id,
                sealed_secret,
            },
        ) => {
            let code = form.code.unwrap_or_default();
            step.enroll(transaction, &session_id, &sealed_secret, &code)
                .await
        }
        ("recovery_saved", Step::MfaRecovery { session_id, .. }) => {
            let evidence = step_evidence(state, headers, tenant, &session_id).await?;
            step.finish(transaction, evidence, None).await
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

/// What every second-factor step's handler works with.
struct StepContext<'a> {
    state: &'a AppState,
    headers: &'a HeaderMap,
    tenant: &'a Tenant,
}

impl StepContext<'_> {
    /// Ends the transaction and the journey with `evidence`, setting `cookie` (the upgraded
    /// session) on the answer when there is one.
    async fn finish(
        &self,
        transaction: Transaction,
        evidence: Evidence,
        cookie: Option<axum::http::HeaderValue>,
    ) -> Result<Response, AppError> {
        transaction.delete(self.state).await?;
        let mut response = super::finish(
            self.state,
            self.headers,
            self.tenant,
            &transaction.request,
            &evidence,
            false,
        )
        .await?;
        if let Some(cookie) = cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        Ok(response)
    }

    /// A TOTP or recovery code at the challenge.
    async fn totp(
        &self,
        transaction: Transaction,
        session_id: &str,
        code: &str,
        ip: IpAddr,
    ) -> Result<Response, AppError> {
        let (state, tenant) = (self.state, self.tenant);
        let evidence = step_evidence(state, self.headers, tenant, session_id).await?;
        match verify(state, tenant, &evidence.user, code, ip).await? {
            throttled @ (Verified::Throttled(_) | Verified::AddressThrottled(_)) => {
                transaction
                    .retry(state, throttled.message(), StatusCode::TOO_MANY_REQUESTS)
                    .await
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
                transaction
                    .retry(state, Verified::Wrong.message(), StatusCode::OK)
                    .await
            }
            method => {
                let user = evidence.user.id.clone();
                let (evidence, cookie) =
                    upgrade_session(state, self.headers, evidence, method).await?;
                tracing::info!(tenant = %tenant.slug, %user, "second factor accepted");
                self.finish(transaction, evidence, Some(cookie)).await
            }
        }
    }

    /// The passcode that proves a guest's mailbox before the first enrolment.
    async fn mailbox_code(
        &self,
        mut transaction: Transaction,
        session_id: String,
        code: &str,
    ) -> Result<Response, AppError> {
        let state = self.state;
        let evidence = step_evidence(state, self.headers, self.tenant, &session_id).await?;
        let checked = passcode::check(
            state,
            self.tenant,
            &evidence.user.email,
            MAILBOX_PURPOSE,
            code,
        )
        .await?;
        if checked != passcode::Checked::Valid {
            return transaction
                .retry(state, checked.message(), StatusCode::OK)
                .await;
        }
        transaction.step = new_enrolment(state, session_id)?;
        transaction.save(state).await?;
        Ok(see_other(&login_url(&self.tenant.slug, &transaction.id)))
    }

    /// Another mailbox passcode, asked for.
    async fn mailbox_send(
        &self,
        transaction: Transaction,
        session_id: &str,
        ip: IpAddr,
    ) -> Result<Response, AppError> {
        let state = self.state;
        let evidence = step_evidence(state, self.headers, self.tenant, session_id).await?;
        let sent = passcode::send(
            state,
            self.tenant,
            &evidence.user.email,
            MAILBOX_PURPOSE,
            Some(ip),
            true,
            transaction.locale(self.headers, Some(&evidence.user)),
        )
        .await?;
        if sent == passcode::Sent::Throttled {
            let text = Text::new("code-error-too-many-sends");
            return transaction
                .retry(state, text, StatusCode::TOO_MANY_REQUESTS)
                .await;
        }
        Ok(see_other(&login_url(&self.tenant.slug, &transaction.id)))
    }

    /// The confirming code of a new authenticator: stored once, then the recovery codes (on
    /// the first one) or the end of the journey.
    async fn enroll(
        &self,
        mut transaction: Transaction,
        session_id: &str,
        sealed_secret: &str,
        code: &str,
    ) -> Result<Response, AppError> {
        let state = self.state;
        let evidence = step_evidence(state, self.headers, self.tenant, session_id).await?;
        let secret = state.master.open(sealed_secret).map_err(|_| expired())?;
        let now = unix_now();
        let Some(step) = totp::matching_step(&secret, code, now.max(0) as u64)? else {
            let text = Text::new("mfa-error-enroll-wrong");
            return transaction.retry(state, text, StatusCode::OK).await;
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
        let codes = enrol(state, self.tenant, &evidence.user, sealed_secret, step, now).await?;
        let (evidence, cookie) =
            upgrade_session(state, self.headers, evidence, Verified::Totp).await?;
        if codes.is_empty() {
            return self.finish(transaction, evidence, Some(cookie)).await;
        }
        transaction.step = Step::MfaRecovery {
            session_id: evidence.session_id.clone(),
            sealed_codes: state.master.seal(codes.join(" ").as_bytes())?,
        };
        transaction.save(state).await?;
        let mut response = see_other(&login_url(&self.tenant.slug, &transaction.id));
        response.headers_mut().append(header::SET_COOKIE, cookie);
        Ok(response)
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

/// Renders the page of a second-factor step, with the notice the last form left.
pub async fn render(
    state: &AppState,
    tenant: &Tenant,
    transaction: &Transaction,
    headers: &HeaderMap,
    notice: Option<super::Notice>,
) -> Result<Response, AppError> {
    let (Step::Mfa { session_id }
    | Step::MfaMailbox { session_id }
    | Step::MfaEnroll { session_id, .. }
    | Step::MfaRecovery { session_id, .. }) = &transaction.step
    else {
        return Err(expired());
    };
    let evidence = step_evidence(state, headers, tenant, session_id).await?;
    let chrome = Chrome::tenant(tenant, transaction.locale(headers, Some(&evidence.user)));
    let status = notice
        .as_ref()
        .and_then(|n| StatusCode::from_u16(n.status).ok())
        .unwrap_or(StatusCode::OK);
    let base = minijinja::context! {
        action => format!("/{}/login", tenant.slug),
        error => notice.map(|n| n.text.in_locale(chrome.locale)),
        app_name => transaction.request.app_name(),
        email => &evidence.user.email,
        tx => &transaction.id, csrf => &transaction.csrf,
    };
    let context = match &transaction.step {
        Step::MfaMailbox { .. } => minijinja::context! {
            step => "mailbox_code", title => chrome.text("mfa-title-mailbox"), ..base
        },
        Step::MfaEnroll { sealed_secret, .. } => {
            let secret = state.master.open(sealed_secret).map_err(|_| expired())?;
            let enrolment = totp::enrolment(&secret, &tenant.name, &evidence.user.email)?;
            minijinja::context! {
                step => "enroll", title => chrome.text("mfa-title-enroll"),
                qr_svg => minijinja::Value::from_safe_string(enrolment.qr_svg),
                otpauth_uri => enrolment.uri, manual_key => enrolment.manual_key, ..base
            }
        }
        Step::MfaRecovery { sealed_codes, .. } => {
            let codes = state.master.open(sealed_codes).map_err(|_| expired())?;
            let codes: Vec<String> = String::from_utf8_lossy(&codes)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            minijinja::context! {
                step => "recovery_saved", title => chrome.text("mfa-title-recovery"), codes,
                ..base
            }
        }
        _ => minijinja::context! {
            step => "totp", title => chrome.text("mfa-title-totp"), ..base
        },
    };
    let page = Page::new("mfa.html", &chrome, context)?.status(status);
    Ok(page
        .form_target(transaction.request.return_url())
        .into_response())
}
