//! The sign-in state machine's decisions, free of HTTP: where a request starts (answer at
//! once from the browser's session, ask the person, or refuse without asking), and how a
//! journey ends (conditional access, the second factor, consent, then the answer). Every
//! outcome of an end is written to the sign-in log. The front doors turn an [`Outcome`] into
//! their protocol's answer; the pages door also runs the steps in between.

use std::net::IpAddr;

use super::Transaction;
use super::factors;
use crate::domain::email::EmailAddress;
use crate::domain::signin::{Evidence, ProtocolRequest, Requirements, Step};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::domain::user::User;
use crate::policy::Outcome as Decided;
use crate::secrets;
use crate::services::access::{self, Attempt, Status};
use crate::services::{Error, Result, Services};
use crate::store::{Session, StoreError};

/// The sign-in log's reason for a user the application does not admit (Entra's 50105).
pub use crate::services::grants::NOT_ASSIGNED_REASON;

/// What the services know of the browser a request comes from: the values of its cookies
/// (read by the front door) and its address.
#[derive(Debug, Clone, Copy, Default)]
pub struct Browser<'a> {
    /// The session cookie's value, if it sent one.
    pub session: Option<&'a str>,
    /// The binding cookie's value (ties sign-in transactions to this browser), if any.
    pub binding: Option<&'a str>,
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
}

/// Where a sign-in goes next.
#[derive(Debug)]
pub enum Outcome {
    /// Ask the person: a transaction was opened at the step to ask.
    Ask(Box<Opened>),
    /// Answer the request with this evidence (access granted and logged).
    Answer(Box<Evidence>),
    /// Answer the request with a refusal, without asking anything.
    Refuse(Refusal),
}

/// A transaction just opened, and what the browser must keep to continue it.
#[derive(Debug)]
pub struct Opened {
    /// The transaction, saved.
    pub transaction: Transaction,
    /// When the browser had no binding cookie: the value the front door must set.
    pub new_binding: Option<String>,
}

/// Why a request is answered with a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The person would have to sign in, but the request forbids interaction (OIDC
    /// `login_required`, SAML `NoPassive`).
    LoginRequired,
    /// A second factor is needed, but the request forbids interaction (OIDC
    /// `interaction_required`).
    InteractionRequired,
    /// Conditional access blocks the sign-in (53003).
    Blocked,
    /// The application requires assignment and the user is not assigned (50105).
    NotAssigned,
}

/// When the browser's existing session is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Now: the request carries the browser's cookies.
    Now,
    /// On the first page load: the request came by a cross-site POST without cookies.
    OnArrival,
}

/// Where the journey goes once the session has been looked at.
#[derive(Debug)]
pub enum Next {
    /// Ask the user something.
    Ask(Step),
    /// Answer the request at once with the session's evidence.
    Answer(Box<Evidence>),
    /// The user would have to be asked, but the request forbids interaction.
    Refuse,
}

/// The browser's live session in a tenant, if `token` (its session cookie) names one.
pub async fn current_session(
    state: &Services,
    token: Option<&str>,
    tenant_id: &str,
) -> Result<Option<Session>> {
    let Some(token) = token else {
        return Ok(None);
    };
    match state
        .store
        .active_session(&secrets::hash_secret(token), tenant_id, unix_now())
        .await
    {
        Ok(session) => Ok(Some(session)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(Error::unexpected(e)),
    }
}

/// Evidence carried by an existing session.
pub fn evidence_of(user: User, session: &Session) -> Evidence {
    Evidence {
        user,
        session_id: session.id.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        idp: session.idp.clone(),
    }
}

/// The evidence of the browser's existing session, if it satisfies `requirements`.
pub async fn session_evidence(
    state: &Services,
    browser: Browser<'_>,
    tenant: &Tenant,
    requirements: &Requirements,
) -> Result<Option<Evidence>> {
    if requirements.fresh_login {
        return Ok(None);
    }
    let Some(token) = browser.session else {
        return Ok(None);
    };
    // The session and its user in one statement: every check below needs the session, and a
    // usable one needs the user.
    let (session, user) = match state
        .store
        .active_session_with_user(&secrets::hash_secret(token), &tenant.id, unix_now())
        .await
    {
        Ok(found) => found,
        // No live session, or its user is gone.
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(Error::unexpected(e)),
    };
    // max_age=0 means "authenticate now", as prompt=login does.
    if requirements
        .max_age
        .is_some_and(|max_age| max_age == 0 || unix_now() - session.auth_time > max_age)
    {
        return Ok(None);
    }
    if requirements
        .expected_user
        .as_deref()
        .is_some_and(|expected| expected != session.user_id)
    {
        return Ok(None);
    }
    Ok(user.account_enabled.then(|| evidence_of(user, &session)))
}

/// Decides the first step given the session's evidence. (A usable session goes on to
/// [`finish`], which applies conditional access, the second factor and consent.)
pub fn first_step(requirements: &Requirements, evidence: Option<Evidence>) -> Next {
    match evidence {
        Some(evidence) => Next::Answer(Box::new(evidence)),
        None if requirements.passive => Next::Refuse,
        None => Next::Ask(
            match requirements
                .login_hint
                .as_deref()
                .and_then(|hint| EmailAddress::parse(hint).ok())
            {
                Some(email) => Step::Password {
                    email: email.to_string(),
                },
                None => Step::Identify,
            },
        ),
    }
}

/// Starts a sign-in for `request`. With a usable session and nothing to ask, the request is
/// answered at once; otherwise a transaction is opened at the first step to ask.
pub async fn start(
    state: &Services,
    browser: Browser<'_>,
    tenant: &Tenant,
    request: ProtocolRequest,
    check: SessionCheck,
) -> Result<Outcome> {
    let step = match check {
        SessionCheck::OnArrival => Step::Pending,
        SessionCheck::Now => {
            let requirements = request.requirements();
            let evidence = session_evidence(state, browser, tenant, &requirements).await?;
            match first_step(&requirements, evidence) {
                Next::Ask(step) => step,
                Next::Answer(evidence) => {
                    return finish(state, browser, tenant, &request, &evidence, false).await;
                }
                Next::Refuse => return Ok(Outcome::Refuse(Refusal::LoginRequired)),
            }
        }
    };
    ask(state, browser, tenant, request, step).await
}

/// Opens a transaction at `step` to ask the person.
async fn ask(
    state: &Services,
    browser: Browser<'_>,
    tenant: &Tenant,
    request: ProtocolRequest,
    step: Step,
) -> Result<Outcome> {
    let opened = open(state, browser, tenant, request, step).await?;
    Ok(Outcome::Ask(Box::new(opened)))
}

/// Opens a transaction at `step`, bound to the browser (a new binding when it has none).
pub async fn open(
    state: &Services,
    browser: Browser<'_>,
    tenant: &Tenant,
    request: ProtocolRequest,
    step: Step,
) -> Result<Opened> {
    let (binding, new_binding) = match browser.binding {
        Some(value) => (secrets::hash_secret(value), None),
        None => {
            let value = secrets::new_secret();
            (secrets::hash_secret(&value), Some(value))
        }
    };
    let transaction = Transaction {
        id: secrets::new_secret(),
        tenant_id: tenant.id.clone(),
        tenant_slug: tenant.slug.clone(),
        browser: binding,
        csrf: secrets::new_secret(),
        ui_locales: request.ui_locales().map(str::to_owned),
        request,
        step,
        created_at: unix_now(),
        notice: None,
    };
    transaction.save(state).await?;
    Ok(Opened {
        transaction,
        new_binding,
    })
}

/// Ends the journey: conditional access decides (block, second factor, or go on), then
/// consent when the request asks for it (`consented` says it was just given), then the
/// request is answered with the evidence. Every outcome is written to the sign-in log.
pub async fn finish(
    state: &Services,
    browser: Browser<'_>,
    tenant: &Tenant,
    request: &ProtocolRequest,
    evidence: &Evidence,
    consented: bool,
) -> Result<Outcome> {
    let requirements = request.requirements();
    let mfa = evidence.is_multi_factor();
    let decision = access::decide(state, &evidence.user, request.app_id(), mfa).await?;
    let app_name = request.app_name().to_owned();
    let attempt = |status, reason, error_code| Attempt {
        tenant,
        user: Some(&evidence.user),
        typed: None,
        app: request.app_id().map(|id| (id, app_name.as_str())),
        amr: &evidence.amr,
        idp: evidence.idp.as_deref(),
        protocol: request.protocol(),
        interactive: true,
        status,
        reason,
        error_code,
        decision: Some(&decision),
        ip: browser.ip,
    };
    if decision.outcome == Decided::NotAssigned {
        let reason = NOT_ASSIGNED_REASON;
        access::record(state, attempt(Status::Failure, Some(reason), 50105)).await?;
        tracing::info!(tenant = %tenant.slug, user = %evidence.user.id, app = ?request.app_id(), "sign-in refused: the user is not assigned to the application");
        return Ok(Outcome::Refuse(Refusal::NotAssigned));
    }
    if decision.outcome == Decided::Block {
        let reason = "Access has been blocked by Conditional Access policies.";
        access::record(state, attempt(Status::Failure, Some(reason), 53003)).await?;
        tracing::info!(tenant = %tenant.slug, user = %evidence.user.id, "sign-in blocked by conditional access");
        return Ok(Outcome::Refuse(Refusal::Blocked));
    }
    if (decision.outcome == Decided::RequireMfa || requirements.mfa) && !mfa {
        let reason = "Strong authentication is required.";
        access::record(state, attempt(Status::Interrupted, Some(reason), 50074)).await?;
        if requirements.passive {
            return Ok(Outcome::Refuse(Refusal::InteractionRequired));
        }
        let step = factors::first_step(state, tenant, evidence, None).await?;
        return ask(state, browser, tenant, request.clone(), step).await;
    }
    if requirements.consent && !consented {
        if requirements.passive {
            return Ok(Outcome::Refuse(Refusal::LoginRequired));
        }
        let step = Step::Consent {
            session_id: evidence.session_id.clone(),
        };
        return ask(state, browser, tenant, request.clone(), step).await;
    }
    access::record(state, attempt(Status::Success, None, 0)).await?;
    Ok(Outcome::Answer(Box::new(evidence.clone())))
}

/// Writes a failed step of the journey (wrong password, wrong second factor) to the sign-in
/// log: `user` when known, else the address typed.
#[allow(clippy::too_many_arguments)]
pub async fn record_failure(
    state: &Services,
    tenant: &Tenant,
    request: &ProtocolRequest,
    user: Option<&User>,
    typed: Option<&str>,
    amr: &[String],
    reason: &str,
    error_code: i64,
    ip: Option<IpAddr>,
) -> Result<()> {
    let app_name = request.app_name().to_owned();
    access::record(
        state,
        Attempt {
            tenant,
            user,
            typed,
            app: request.app_id().map(|id| (id, app_name.as_str())),
            amr,
            idp: None,
            protocol: request.protocol(),
            interactive: true,
            status: Status::Failure,
            reason: Some(reason),
            error_code,
            decision: None,
            ip,
        },
    )
    .await
}
