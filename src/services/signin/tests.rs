//! The sign-in state machine's rules, tested without HTTP on a fresh SQLite file and the
//! in-memory store: where a request starts, `prompt=none` outcomes, the second factor before
//! consent, assignment, and the browser binding of a transaction.

use super::flow::{self, Browser, Opened, Outcome, Refusal, SessionCheck};
use crate::domain::app::App;
use crate::domain::scope::Scopes;
use crate::domain::signin::{
    ACR_MFA, ACR_SFA, AuthorizeRequest, ProtocolRequest, ResponseMode, Step,
};
use crate::domain::unix_now;
use crate::secrets;
use crate::services::Services;
use crate::services::testing::TestServices;
use crate::services::testing::{self, World};
use crate::store::{Session, SignInFilter};

/// An OIDC request of the world's app with `prompt`, `acr_values` and `login_hint`.
fn request(app: &App, prompt: &[&str], acr: &[&str], login_hint: Option<&str>) -> ProtocolRequest {
    ProtocolRequest::Oidc(AuthorizeRequest {
        tenant_id: app.tenant_id.clone(),
        client_id: app.client_id.clone(),
        app_name: app.name.clone(),
        redirect_uri: app.redirect_uris[0].clone(),
        response_mode: ResponseMode::Query,
        scope: Scopes::parse("openid").expect("a scope"),
        state: None,
        nonce: None,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        prompt: prompt.iter().map(|p| (*p).to_owned()).collect(),
        max_age: None,
        login_hint: login_hint.map(str::to_owned),
        acr_values: acr.iter().map(|a| (*a).to_owned()).collect(),
        hint_user: None,
        ui_locales: None,
    })
}

/// Signs the world's member in with `amr`; returns the session cookie's value.
async fn session(services: &Services, world: &World, amr: &[&str]) -> String {
    let token = secrets::new_secret();
    let now = unix_now();
    let mfa = amr.contains(&"mfa");
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: world.tenant.id.clone(),
        user_id: world.user.id.clone(),
        auth_time: now,
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        acr: if mfa { ACR_MFA } else { ACR_SFA }.to_owned(),
        idp: None,
        created_at: now,
        expires_at: now + 3600,
    };
    services
        .store
        .establish_session(None, &secrets::hash_secret(&token), &session)
        .await
        .expect("a session");
    token
}

/// A browser with the session `token` (if any) and a binding cookie.
fn browser(token: Option<&str>) -> Browser<'_> {
    Browser {
        session: token,
        binding: Some("binding"),
        ip: None,
    }
}

/// Starts a sign-in for `request` from `browser`, looking at its session now.
async fn start(
    test: &TestServices,
    world: &World,
    browser: Browser<'_>,
    request: ProtocolRequest,
) -> Outcome {
    flow::start(
        &test.services,
        browser,
        &world.tenant,
        request,
        SessionCheck::Now,
    )
    .await
    .expect("the sign-in starts")
}

/// The transaction of an `Ask`, or a failure naming what came instead.
fn opened(outcome: Outcome) -> Opened {
    match outcome {
        Outcome::Ask(opened) => *opened,
        other => panic!("expected a question, got {other:?}"),
    }
}

/// The step of an `Ask`.
fn asked(outcome: Outcome) -> Step {
    opened(outcome).transaction.step
}

/// The tenant's sign-in log, newest first: each entry's status.
async fn logged(test: &TestServices, world: &World) -> Vec<String> {
    let log = crate::services::access::sign_ins(
        &test.services,
        &world.tenant.id,
        &SignInFilter::default(),
        10,
        0,
    )
    .await
    .expect("the sign-in log");
    log.into_iter().map(|entry| entry.status).collect()
}

#[tokio::test]
async fn prompt_none_without_a_session_is_refused_as_login_required() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let outcome = start(
        &test,
        &world,
        browser(None),
        request(&world.app, &["none"], &[], None),
    )
    .await;
    assert!(matches!(outcome, Outcome::Refuse(Refusal::LoginRequired)));
}

#[tokio::test]
async fn without_a_session_the_first_question_is_the_address_or_the_hinted_password() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let first = |hint| request(&world.app, &[], &[], hint);
    let outcome = start(&test, &world, Browser::default(), first(None)).await;
    assert_eq!(asked(outcome), Step::Identify);
    let outcome = start(
        &test,
        &world,
        Browser::default(),
        first(Some("ada@contoso.example")),
    )
    .await;
    assert_eq!(
        asked(outcome),
        Step::Password {
            email: "ada@contoso.example".to_owned()
        }
    );
    // A hint that is no address asks for one.
    let outcome = start(
        &test,
        &world,
        Browser::default(),
        first(Some("not an address")),
    )
    .await;
    assert_eq!(asked(outcome), Step::Identify);
}

#[tokio::test]
async fn a_transaction_is_bound_to_the_browser_that_started_it() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let first = || request(&world.app, &[], &[], None);
    let Opened {
        transaction,
        new_binding,
    } = opened(start(&test, &world, Browser::default(), first()).await);
    let new_binding = new_binding.expect("a browser without a binding gets one");
    assert!(transaction.is_bound_to_binding(Some(&new_binding)));
    assert!(!transaction.is_bound_to_binding(Some("another browser")));
    assert!(!transaction.is_bound_to_binding(None));
    let mine = Browser {
        binding: Some("mine"),
        ..Browser::default()
    };
    let Opened {
        transaction,
        new_binding,
    } = opened(start(&test, &world, mine, first()).await);
    assert!(new_binding.is_none(), "an existing binding is kept");
    assert!(transaction.is_bound_to_binding(Some("mine")));
    // It is saved: any node can load it.
    let loaded = super::Transaction::load(&test.services, &transaction.id)
        .await
        .unwrap()
        .expect("the transaction is stored");
    assert_eq!(loaded.step, Step::Identify);
}

#[tokio::test]
async fn a_cross_site_post_looks_at_the_session_on_arrival() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let outcome = flow::start(
        &test.services,
        browser(None),
        &world.tenant,
        request(&world.app, &[], &[], None),
        SessionCheck::OnArrival,
    )
    .await
    .unwrap();
    assert_eq!(asked(outcome), Step::Pending);
}

#[tokio::test]
async fn a_usable_session_is_answered_at_once_and_logged() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let token = session(&test.services, &world, &["pwd"]).await;
    let silent = request(&world.app, &["none"], &[], None);
    let outcome = start(&test, &world, browser(Some(&token)), silent).await;
    let Outcome::Answer(evidence) = outcome else {
        panic!("expected an answer, got {outcome:?}");
    };
    assert_eq!(evidence.user.id, world.user.id);
    assert_eq!(evidence.amr, vec!["pwd".to_owned()]);
    assert_eq!(logged(&test, &world).await, ["success"]);
}

#[tokio::test]
async fn prompt_none_when_a_second_factor_is_needed_is_interaction_required() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let token = session(&test.services, &world, &["pwd"]).await;
    let silent = request(&world.app, &["none"], &[ACR_MFA], None);
    let outcome = start(&test, &world, browser(Some(&token)), silent).await;
    assert!(matches!(
        outcome,
        Outcome::Refuse(Refusal::InteractionRequired)
    ));
    assert_eq!(logged(&test, &world).await, ["interrupted"]);
}

#[tokio::test]
async fn the_second_factor_comes_before_consent() {
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let consent = |prompt: &[&str]| request(&world.app, prompt, &[ACR_MFA], None);
    // Single factor, MFA asked for, consent asked for: enrolment first (no authenticator yet,
    // the password is fresh), never consent.
    let single = session(&test.services, &world, &["pwd"]).await;
    let outcome = start(&test, &world, browser(Some(&single)), consent(&["consent"])).await;
    assert!(
        matches!(asked(outcome), Step::MfaEnroll { .. }),
        "the second factor first"
    );
    // Multi-factor: now consent.
    let multi = session(&test.services, &world, &["pwd", "otp", "mfa"]).await;
    let outcome = start(&test, &world, browser(Some(&multi)), consent(&["consent"])).await;
    assert!(matches!(asked(outcome), Step::Consent { .. }));
    // prompt=none cannot give consent either.
    let outcome = start(
        &test,
        &world,
        browser(Some(&multi)),
        consent(&["none", "consent"]),
    )
    .await;
    assert!(matches!(outcome, Outcome::Refuse(Refusal::LoginRequired)));
}

#[tokio::test]
async fn an_unassigned_user_is_refused_when_the_app_requires_assignment() {
    let test = testing::services().await;
    let mut world = testing::world(&test.services).await;
    world.app = App {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: uuid::Uuid::new_v4().to_string(),
        assignment_required: true,
        ..world.app.clone()
    };
    test.services
        .store
        .create_app(&world.app)
        .await
        .expect("an app that requires assignment");
    let token = session(&test.services, &world, &["pwd"]).await;
    let outcome = start(
        &test,
        &world,
        browser(Some(&token)),
        request(&world.app, &[], &[], None),
    )
    .await;
    assert!(matches!(outcome, Outcome::Refuse(Refusal::NotAssigned)));
    assert_eq!(logged(&test, &world).await, ["failure"]);
}

/// Disables or enables the world's member (with a new security stamp, as an admin would).
async fn set_enabled(test: &TestServices, world: &World, enabled: bool) {
    test.services
        .store
        .update_user_security(&crate::store::SecurityChange {
            tenant_id: &world.tenant.id,
            user_id: &world.user.id,
            enabled: Some(enabled),
            password_hash: None,
            stamp: if enabled { "enabled" } else { "disabled" },
            now: unix_now(),
        })
        .await
        .expect("the user's status changes");
}

#[tokio::test]
async fn a_session_answers_only_while_it_is_live_in_its_tenant_and_its_user_is_enabled() {
    // The session and its user are read in one statement: each way that read can come back
    // empty or unusable must still lead to "sign in again", never to another user's answer.
    let test = testing::services().await;
    let world = testing::world(&test.services).await;
    let silent = || request(&world.app, &["none"], &[], None);
    let refused = |outcome: &Outcome| matches!(outcome, Outcome::Refuse(Refusal::LoginRequired));

    // An unknown cookie.
    let outcome = start(&test, &world, browser(Some("not-a-session")), silent()).await;
    assert!(refused(&outcome), "{outcome:?}");

    // A live session of an enabled user is answered with that user.
    let token = session(&test.services, &world, &["pwd"]).await;
    let outcome = start(&test, &world, browser(Some(&token)), silent()).await;
    let Outcome::Answer(evidence) = outcome else {
        panic!("expected an answer, got {outcome:?}");
    };
    assert_eq!(evidence.user.id, world.user.id);
    assert_eq!(evidence.user.email, world.user.email);

    // The same cookie names no session in another tenant.
    let elsewhere = test
        .services
        .store
        .active_session_with_user(&secrets::hash_secret(&token), "another-tenant", unix_now())
        .await;
    assert!(
        matches!(elsewhere, Err(crate::store::StoreError::NotFound)),
        "{elsewhere:?}"
    );

    // A disabled user's session answers nothing.
    set_enabled(&test, &world, false).await;
    let outcome = start(&test, &world, browser(Some(&token)), silent()).await;
    assert!(refused(&outcome), "{outcome:?}");

    // Nor does an ended session of a user enabled again.
    set_enabled(&test, &world, true).await;
    let outcome = start(&test, &world, browser(Some(&token)), silent()).await;
    assert!(matches!(outcome, Outcome::Answer(_)), "{outcome:?}");
    let live = flow::current_session(&test.services, Some(&token), &world.tenant.id)
        .await
        .expect("a read")
        .expect("the session");
    test.services
        .store
        .end_session(&live.id, unix_now())
        .await
        .expect("the session ends");
    let outcome = start(&test, &world, browser(Some(&token)), silent()).await;
    assert!(refused(&outcome), "{outcome:?}");
}
