//! Conditional access and TOTP (SECURITY.md C.35, D.38, H.69, H.71–75): the policy matrix
//! (tenant, app, user, group, guests-only, report-only, block × session with and without
//! MFA), enrolment, a code accepted once, parallel submissions, throttling with a notice,
//! forms of later steps refused while the second factor is pending, prompt=none, acr_values,
//! refresh after a policy change, guests' mailbox proof, removing a factor, the admin API
//! and the sign-in log.

use std::collections::HashMap;

use gatehouse::domain::unix_now;
use gatehouse::domain::user::{ExternalUserState, User, UserType};
use gatehouse::services::admin::UserInput;
use gatehouse::services::signin::totp;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{CALLBACK, SLUG, World, follow, id_claims, is_callback, submit};
use crate::factors::{code, enrolment_uri, secret_of};
use crate::helpers::{Browser, Client, Pkce, location, parse_form, query_param};

const PASSWORD: &str = "a long enough password";
const ACR_MFA: &str = "https://refeds.org/profile/mfa";
const ACR_SFA: &str = "https://refeds.org/profile/sfa";

/// A member with a password.
async fn member(world: &World, email: &str) -> User {
    gatehouse::services::admin::create_user(
        world.app.state.store.as_ref(),
        &world.app.state.passwords,
        UserInput {
            tenant: SLUG.into(),
            email: email.into(),
            name: "Mia Member".into(),
            password: Some(PASSWORD.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// A redeemed guest with a password (as a lightweight account that chose one).
async fn guest(world: &World, email: &str) -> User {
    // A member made only to borrow a valid password hash and defaults.
    let mut user = member(world, &format!("template.{email}")).await;
    user.id = uuid::Uuid::new_v4().to_string();
    user.email = email.to_owned();
    user.user_type = UserType::Guest;
    user.creation_type = Some("Invitation".into());
    user.external_user_state = Some(ExternalUserState::Accepted);
    user.upn = format!("{}#EXT#@contoso.example", email.replace('@', "_"));
    world.app.state.store.create_user(&user, &[]).await.unwrap();
    user
}

/// Gives `user` of the world's tenant an authenticator with a known secret and ten recovery
/// codes.
async fn authenticator(world: &World, user: &User) -> (Vec<u8>, Vec<String>) {
    crate::factors::authenticator(&world.app.state, &world.tenant.id, &user.id).await
}

/// Replaces the tenant's policies with `policy` (Graph JSON) through the admin API.
async fn only_policy(world: &World, policy: Option<Value>) -> String {
    let token = world.backend_token().await;
    let (_, list) = world
        .call(
            Method::GET,
            "identity/conditionalAccess/policies",
            Some(&token),
            None,
        )
        .await;
    for existing in list["value"].as_array().unwrap() {
        let path = format!(
            "identity/conditionalAccess/policies/{}",
            existing["id"].as_str().unwrap()
        );
        let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let Some(policy) = policy else {
        return String::new();
    };
    let (status, body) = world
        .call(
            Method::POST,
            "identity/conditionalAccess/policies",
            Some(&token),
            Some(policy),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn policy(users: Value, apps: Value, control: &str, state: &str) -> Value {
    json!({
        "displayName": format!("{control} for {users}"),
        "state": state,
        "conditions": { "users": users, "applications": apps },
        "grantControls": { "operator": "OR", "builtInControls": [control] },
    })
}

/// Starts a sign-in of `client` in `browser` and submits the password of `email`; returns
/// the response after the password and the PKCE verifier.
async fn password_step(
    world: &World,
    browser: &Browser,
    client: &Client,
    email: &str,
    extra: &[(&str, &str)],
) -> (Response, Pkce) {
    let pkce = Pkce::new();
    let url = client.authorize_url(&world.issuer(), "openid profile email", &pkce, extra);
    let (_, html) = browser.open_login(&url).await;
    let html = browser.submit_email(&html, email).await;
    (browser.submit_password(&html, PASSWORD).await, pkce)
}

fn amr(claims: &Value) -> Vec<String> {
    claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Answers the second-factor page a response leads to with `answer`.
async fn answer(browser: &Browser, response: Response, answer: &str) -> Response {
    let page = follow(browser, response).await;
    assert!(page.contains("name=\"step\" value=\"totp\""), "{page}");
    submit(browser, &page, &[("code", answer)]).await
}

/// A browser holding an MFA session of `email` (password + TOTP through acr_values).
async fn mfa_session(world: &World, email: &str, secret: &[u8]) -> Browser {
    let browser = world.app.browser();
    let (response, pkce) = password_step(
        world,
        &browser,
        &world.web,
        email,
        &[("acr_values", ACR_MFA)],
    )
    .await;
    let done = answer(&browser, response, &code(secret, 0)).await;
    let claims = id_claims(world, &world.web, &done, &pkce).await;
    assert_eq!(claims["acr"], ACR_MFA);
    browser
}

/// Authorizes `client` in a browser that has a session, without any prompt.
async fn silent(world: &World, browser: &Browser, client: &Client) -> (Response, Pkce) {
    let pkce = Pkce::new();
    let url = client.authorize_url(&world.issuer(), "openid", &pkce, &[]);
    (browser.get(&url).await, pkce)
}

#[tokio::test]
async fn the_policy_matrix_decides_challenges_and_the_tokens_say_what_happened() {
    let world = World::new().await;
    let (other_id, other_secret) = world
        .app
        .app(gatehouse::services::admin::AppInput {
            tenant: SLUG.into(),
            name: "Other app".into(),
            redirect_uris: vec![CALLBACK.into()],
            ..Default::default()
        })
        .await;
    let other = Client {
        client_id: other_id,
        secret: other_secret,
        redirect_uri: CALLBACK.into(),
    };
    let web = world.web.client_id.clone();
    /// One row: who the policy targets (from the row user's id and its group's id), whether
    /// it covers only the web app, its control and state, and what a password-only sign-in
    /// then meets.
    struct Row {
        name: &'static str,
        guest: bool,
        in_group: bool,
        users: fn(&str, &str) -> Value,
        web_only: bool,
        control: &'static str,
        state: &'static str,
        challenged: bool,
        blocked: bool,
    }
    let all: fn(&str, &str) -> Value = |_, _| json!({"includeUsers": ["All"]});
    let row = |name, guest, in_group, users, web_only, control, state, challenged, blocked| Row {
        name,
        guest,
        in_group,
        users,
        web_only,
        control,
        state,
        challenged,
        blocked,
    };
    let rows = [
        row(
            "tenant-level",
            false,
            false,
            all,
            false,
            "mfa",
            "enabled",
            true,
            false,
        ),
        row(
            "app-level",
            false,
            false,
            all,
            true,
            "mfa",
            "enabled",
            true,
            false,
        ),
        row(
            "user-level",
            false,
            false,
            |user, _| json!({"includeUsers": [user]}),
            false,
            "mfa",
            "enabled",
            true,
            false,
        ),
        row(
            "group-level",
            false,
            true,
            |_, group| json!({"includeGroups": [group]}),
            false,
            "mfa",
            "enabled",
            true,
            false,
        ),
        row(
            "guests-only",
            true,
            false,
            |_, _| json!({"includeUsers": ["GuestsOrExternalUsers"]}),
            false,
            "mfa",
            "enabled",
            true,
            false,
        ),
        row(
            "report-only",
            false,
            false,
            all,
            false,
            "mfa",
            "enabledForReportingButNotEnforced",
            false,
            false,
        ),
        row(
            "block",
            false,
            false,
            |user, _| json!({"includeUsers": [user]}),
            false,
            "block",
            "enabled",
            false,
            true,
        ),
    ];
    let bystander = member(&world, "bystander@contoso.example").await;
    for (n, row) in rows.iter().enumerate() {
        only_policy(&world, None).await;
        let email = format!("row{n}@contoso.example");
        let user = if row.guest {
            guest(&world, &email).await
        } else {
            member(&world, &email).await
        };
        let (secret, codes) = authenticator(&world, &user).await;
        let group = gatehouse::services::admin::create_group(
            world.app.state.store.as_ref(),
            gatehouse::services::admin::GroupInput {
                tenant: SLUG.into(),
                name: format!("Group {n}"),
                owners: vec![],
                members: if row.in_group {
                    vec![email.clone()]
                } else {
                    vec![]
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // A session with MFA, made before the policy exists.
        let with_mfa = mfa_session(&world, &email, &secret).await;
        let apps = if row.web_only {
            json!({"includeApplications": [web]})
        } else {
            json!({"includeApplications": ["All"]})
        };
        let users = (row.users)(&user.id, &group.id);
        only_policy(&world, Some(policy(users, apps, row.control, row.state))).await;

        // Session without MFA: a fresh password sign-in.
        let browser = world.app.browser();
        let (response, pkce) = password_step(&world, &browser, &world.web, &email, &[]).await;
        if row.blocked {
            let back = location(&response).unwrap_or_default();
            assert!(
                back.starts_with(CALLBACK) && back.contains("error=access_denied"),
                "{}: {back}",
                row.name
            );
        } else if row.challenged {
            assert!(!is_callback(&response), "{}: challenged", row.name);
            let done = answer(&browser, response, &codes[0]).await;
            let claims = id_claims(&world, &world.web, &done, &pkce).await;
            assert_eq!(
                amr(&claims),
                ["pwd", "mfa"],
                "{}: a recovery code",
                row.name
            );
            assert_eq!(claims["acr"], ACR_MFA, "{}", row.name);
        } else {
            let claims = id_claims(&world, &world.web, &response, &pkce).await;
            assert_eq!(amr(&claims), ["pwd"], "{}", row.name);
            assert_eq!(claims["acr"], ACR_SFA, "{}", row.name);
        }

        // Session with MFA: no challenge (a block still blocks).
        let (response, pkce) = silent(&world, &with_mfa, &world.web).await;
        if row.blocked {
            let back = location(&response).unwrap_or_default();
            assert!(back.contains("error=access_denied"), "{}: {back}", row.name);
        } else {
            let claims = id_claims(&world, &world.web, &response, &pkce).await;
            assert_eq!(amr(&claims), ["pwd", "otp", "mfa"], "{}", row.name);
            assert_eq!(claims["acr"], ACR_MFA, "{}", row.name);
        }

        // What the policy does not cover is not challenged.
        let free_browser = world.app.browser();
        let (free, free_pkce) = match row.name {
            "app-level" => password_step(&world, &free_browser, &other, &email, &[]).await,
            "user-level" | "group-level" | "guests-only" | "block" => {
                password_step(&world, &free_browser, &world.web, &bystander.email, &[]).await
            }
            _ => continue,
        };
        let client = if row.name == "app-level" {
            &other
        } else {
            &world.web
        };
        let claims = id_claims(&world, client, &free, &free_pkce).await;
        assert_eq!(amr(&claims), ["pwd"], "{}: not covered", row.name);
    }

    // The sign-in log holds each attempt with each policy's result.
    let token = world.backend_token().await;
    let report_only_user = world
        .app
        .state
        .store
        .user_by_email(&world.tenant.id, "row5@contoso.example")
        .await
        .unwrap();
    let (status, log) = world
        .call(
            Method::GET,
            &format!(
                "auditLogs/signIns?$filter=userId eq '{}'",
                report_only_user.id
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["value"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| {
            e["appliedConditionalAccessPolicies"][0]["result"] == "reportOnlyInterrupted"
                && e["status"]["errorCode"] == 0
        }),
        "{log}"
    );
    let (_, blocked) = world
        .call(
            Method::GET,
            "auditLogs/signIns?$filter=status eq 'failure'",
            Some(&token),
            None,
        )
        .await;
    assert!(
        blocked["value"].as_array().unwrap().iter().any(|e| {
            e["status"]["errorCode"] == 53003
                && e["conditionalAccessStatus"] == "failure"
                && e["appliedConditionalAccessPolicies"][0]["enforcedGrantControls"][0] == "block"
        }),
        "{blocked}"
    );
}

#[tokio::test]
async fn enrolment_at_the_first_challenge_then_each_code_is_accepted_once() {
    let world = World::new().await;
    let user = member(&world, "new@contoso.example").await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let browser = world.app.browser();
    let (response, pkce) = password_step(&world, &browser, &world.web, &user.email, &[]).await;
    let page = follow(&browser, response).await;
    assert!(page.contains("name=\"step\" value=\"enroll\""), "{page}");
    assert!(page.contains("<svg"), "the QR code is in the page");
    let uri = enrolment_uri(&page);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let key = query_param(&uri.replace("otpauth://totp/", "https://x/"), "secret").unwrap();
    let secret = totp_rs::Secret::Encoded(key.clone()).to_bytes().unwrap();
    assert_eq!(secret.len(), 20, "160-bit secret");
    // Stored sealed, never as the key.
    let stored = world.app.state.store.totp_methods(&user.id).await.unwrap();
    assert!(stored.is_empty(), "nothing stored before confirmation");

    let wrong = submit(&browser, &page, &[("code", "000000")]).await;
    let (status, refused) = browser.refused_page(wrong).await;
    assert_eq!(status, StatusCode::OK);
    assert!(refused.contains("not right"));
    let before = browser
        .get(&format!("{}/security-info", world.issuer()))
        .await;
    assert_eq!(before.status(), StatusCode::OK, "signed in (password only)");
    let enrolment_code = code(&secret, 0);
    let confirmed = submit(&browser, &page, &[("code", &enrolment_code)]).await;
    assert!(
        browser.cookie(confirmed.headers(), "gh_session").is_some(),
        "a new session cookie after the second factor (SECURITY.md J.76)"
    );
    let recovery = follow(&browser, confirmed).await;
    assert!(
        recovery.contains("name=\"step\" value=\"recovery_saved\""),
        "{recovery}"
    );
    let codes: Vec<String> = recovery
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let done = submit(&browser, &recovery, &[]).await;
    let claims = id_claims(&world, &world.web, &done, &pkce).await;
    assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
    assert_eq!(claims["acr"], ACR_MFA);
    let stored = world.app.state.store.totp_methods(&user.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].sealed_secret.contains(&key) && stored[0].sealed_secret.split('.').count() == 5,
        "sealed as a JWE"
    );
    let notice = world.smtp.wait_for(&user.email, 1).await;
    assert!(
        notice
            .header("subject")
            .unwrap()
            .contains("Security notice")
    );
    assert!(notice.text().contains("authenticator app was added"));

    // The code that confirmed enrolment cannot be used again inside its window.
    let second = world.app.browser();
    let (response, _) = password_step(&world, &second, &world.web, &user.email, &[]).await;
    // (The very string accepted at enrolment: still inside ±1 step even if a step went by.)
    let replay = answer(&second, response, &enrolment_code).await;
    let (status, page) = second.refused_page(replay).await;
    assert_eq!(status, StatusCode::OK, "replayed code refused");
    assert!(page.contains("not right"));
    // Neither can an older one; a recovery code works once.
    let older = submit(&second, &page, &[("code", &code(&secret, -1))]).await;
    let (status, page) = second.refused_page(older).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an older step after a newer one is refused"
    );
    let recovered = submit(&second, &page, &[("code", &codes[3].to_uppercase())]).await;
    assert!(is_callback(&recovered), "a recovery code works");
    let third = world.app.browser();
    let (response, _) = password_step(&world, &third, &world.web, &user.email, &[]).await;
    let again = answer(&third, response, &codes[3]).await;
    let (status, page) = third.refused_page(again).await;
    assert_eq!(status, StatusCode::OK, "a recovery code works once");
    assert!(page.contains("not right"));
}

#[tokio::test]
async fn parallel_submissions_of_one_correct_code_let_exactly_one_through() {
    let world = World::new().await;
    let user = member(&world, "racer@contoso.example").await;
    let (secret, _) = authenticator(&world, &user).await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let mut pages = Vec::new();
    for _ in 0..8 {
        let browser = world.app.browser();
        let (response, _) = password_step(&world, &browser, &world.web, &user.email, &[]).await;
        let page = follow(&browser, response).await;
        pages.push((browser, page));
    }
    let now_code = code(&secret, 0);
    let results = futures::future::join_all(pages.iter().map(|(browser, page)| {
        let now_code = now_code.clone();
        async move { submit(browser, page, &[("code", &now_code)]).await }
    }))
    .await;
    let through = results.iter().filter(|r| is_callback(r)).count();
    assert_eq!(
        through, 1,
        "exactly one of the parallel submissions succeeds"
    );
}

#[tokio::test]
async fn wrong_codes_are_throttled_and_the_user_is_told() {
    let world = World::new().await;
    let user = member(&world, "guesser@contoso.example").await;
    let (secret, _) = authenticator(&world, &user).await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let browser = world.app.browser();
    let (response, _) = password_step(&world, &browser, &world.web, &user.email, &[]).await;
    let mut page = follow(&browser, response).await;
    let wrong = if code(&secret, 0) == "123456" {
        "654321"
    } else {
        "123456"
    };
    for attempt in 1..=5 {
        let response = submit(&browser, &page, &[("code", wrong)]).await;
        let (status, next) = browser.refused_page(response).await;
        assert_eq!(status, StatusCode::OK, "attempt {attempt}");
        page = next;
    }
    let locked = submit(&browser, &page, &[("code", &code(&secret, 0))]).await;
    let (status, page) = browser.refused_page(locked).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right code waits"
    );
    assert!(
        page.contains("Too many wrong codes for this account"),
        "the page says which limit: {page}"
    );
    let notice = world.smtp.wait_for(&user.email, 1).await;
    assert!(
        notice.text().contains("wrong verification codes"),
        "{}",
        notice.text()
    );
}

#[tokio::test]
async fn forms_of_later_steps_are_refused_while_the_second_factor_is_pending() {
    let world = World::new().await;
    let user = member(&world, "skipper@contoso.example").await;
    authenticator(&world, &user).await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let browser = world.app.browser();
    let (response, _) = password_step(
        &world,
        &browser,
        &world.web,
        &user.email,
        &[("prompt", "consent")],
    )
    .await;
    let page = follow(&browser, response).await;
    for (step, extra) in [
        ("consent", ("decision", "allow")),
        ("recovery_saved", ("x", "")),
        ("enroll", ("code", "123456")),
        ("password", ("password", PASSWORD)),
    ] {
        let mut fields: HashMap<String, String> = parse_form(&page).fields;
        fields.insert("step".into(), step.into());
        fields.insert(extra.0.into(), extra.1.into());
        let response = browser.post_form(&parse_form(&page).action, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "step {step}");
    }
    // prompt=none with this session (password only): interaction_required, no code.
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("prompt", "none")]);
    let back = location(&browser.get(&url).await).unwrap();
    assert!(
        back.contains("error=interaction_required") && !back.contains("code="),
        "{back}"
    );
}

#[tokio::test]
async fn refresh_follows_policy_changes_and_acr_values_or_max_age_are_honoured() {
    let world = World::new().await;
    let user = member(&world, "refresher@contoso.example").await;
    let (secret, _) = authenticator(&world, &user).await;
    let tokens = world
        .app
        .sign_in_and_redeem(
            SLUG,
            &world.web,
            &user.email,
            PASSWORD,
            "openid offline_access",
        )
        .await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let refresh_with = |token: String| {
        let world = &world;
        async move {
            world
                .app
                .token(
                    SLUG,
                    &world.web,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await
        }
    };
    let id = only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let refused = refresh_with(refresh.clone()).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // Report-only now: the next token is issued again, from the same refresh token.
    let token = world.backend_token().await;
    let (status, _) = world
        .call(
            Method::PATCH,
            &format!("identity/conditionalAccess/policies/{id}"),
            Some(&token),
            Some(json!({"state": "enabledForReportingButNotEnforced"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(refresh_with(refresh).await.status(), StatusCode::OK);
    let (_, log) = world
        .call(
            Method::GET,
            &format!(
                "auditLogs/signIns?$filter=userId eq '{}' and status eq 'failure'",
                user.id
            ),
            Some(&token),
            None,
        )
        .await;
    assert!(
        log["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["isInteractive"] == false && e["protocol"] == "oidc"),
        "{log}"
    );

    // acr_values asking for MFA runs the challenge even without a policy.
    only_policy(&world, None).await;
    let browser = mfa_session(&world, &user.email, &secret).await;
    // max_age=0 forces a fresh primary sign-in: the password page, not a code.
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("max_age", "0")]);
    let response = browser.get(&url).await;
    let page = follow(&browser, response).await;
    assert!(
        page.contains("name=\"step\" value=\"identify\""),
        "a fresh sign-in: {page}"
    );
}

#[tokio::test]
async fn a_guests_first_enrolment_needs_the_invited_mailbox() {
    let world = World::new().await;
    let user = guest(&world, "gina@partner.example").await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["GuestsOrExternalUsers"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let browser = world.app.browser();
    let (response, pkce) = password_step(&world, &browser, &world.web, &user.email, &[]).await;
    let page = follow(&browser, response).await;
    assert!(
        page.contains("name=\"step\" value=\"mailbox_code\""),
        "{page}"
    );
    assert!(
        !page.contains("otpauth"),
        "no secret before the mailbox is proven"
    );
    let passcode = world.smtp.wait_for(&user.email, 1).await.code();
    let enroll = follow(
        &browser,
        submit(&browser, &page, &[("code", &passcode)]).await,
    )
    .await;
    let uri = enrolment_uri(&enroll);
    let secret = secret_of(&uri);
    let recovery = follow(
        &browser,
        submit(&browser, &enroll, &[("code", &code(&secret, 0))]).await,
    )
    .await;
    let done = submit(&browser, &recovery, &[]).await;
    let claims = id_claims(&world, &world.web, &done, &pkce).await;
    assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
    assert_eq!(claims["acct"], 1);
    let notice = world.smtp.wait_for(&user.email, 2).await;
    assert!(notice.text().contains("authenticator app was added"));
}

#[tokio::test]
async fn removing_a_factor_needs_mfa_and_admins_can_reset_one() {
    let world = World::new().await;
    let user = member(&world, "owner@contoso.example").await;
    let (secret, _) = authenticator(&world, &user).await;
    // A password-only session reaches the page but removal steps up first.
    let tokens_browser = world.app.browser();
    let (response, _) = password_step(&world, &tokens_browser, &world.web, &user.email, &[]).await;
    assert!(is_callback(&response));
    let page = tokens_browser
        .get(&format!("{}/security-info", world.issuer()))
        .await;
    let page = page.text().await.unwrap();
    assert!(page.contains("Authenticator app"), "{page}");
    let remove_form = &page[page
        .find("name=\"method\"")
        .map(|i| page[..i].rfind("<form").unwrap())
        .unwrap()..];
    let response = submit(&tokens_browser, remove_form, &[("action", "remove")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&response).unwrap().contains("/login?tx="),
        "stepped up first"
    );
    assert_eq!(
        world
            .app
            .state
            .store
            .totp_methods(&user.id)
            .await
            .unwrap()
            .len(),
        1,
        "nothing removed"
    );
    let done = answer(&tokens_browser, response, &code(&secret, 0)).await;
    assert!(location(&done).unwrap().ends_with("/security-info"));
    let page = tokens_browser
        .get(&location(&done).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let remove_form = &page[page
        .find("name=\"method\"")
        .map(|i| page[..i].rfind("<form").unwrap())
        .unwrap()..];
    let removed = submit(&tokens_browser, remove_form, &[("action", "remove")]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(
        world
            .app
            .state
            .store
            .totp_methods(&user.id)
            .await
            .unwrap()
            .is_empty()
    );
    let notice = world.smtp.wait_for(&user.email, 1).await;
    assert!(notice.text().contains("was removed"));

    // The admin API lists methods and resets one; the user is told.
    authenticator(&world, &user).await;
    let token = world.backend_token().await;
    let (status, methods) = world
        .call(
            Method::GET,
            &format!("users/{}/authentication/methods", user.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let oath = methods["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["@odata.type"] == "#microsoft.graph.softwareOathAuthenticationMethod")
        .unwrap()
        .clone();
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!(
                "users/{}/authentication/softwareOathMethods/{}",
                user.id,
                oath["id"].as_str().unwrap()
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        world
            .app
            .state
            .store
            .totp_methods(&user.id)
            .await
            .unwrap()
            .is_empty()
    );
    world.smtp.wait_for(&user.email, 2).await;
    // A user token without the permission cannot.
    let user_token = world.user_token(&user.email, PASSWORD, "openid").await;
    let (status, _) = world
        .call(
            Method::GET,
            &format!("users/{}/authentication/methods", user.id),
            Some(&user_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_policy_api_validates_names_what_is_wrong_and_audits() {
    let world = World::new().await;
    let token = world.backend_token().await;
    member(&world, "plain@contoso.example").await;
    let plain = world
        .user_token("plain@contoso.example", PASSWORD, "openid")
        .await;
    let path = "identity/conditionalAccess/policies";
    let good = policy(
        json!({"includeUsers": ["All"]}),
        json!({"includeApplications": ["All"]}),
        "mfa",
        "enabled",
    );
    let cases = [
        (json!({"displayName": "x"}), "state is required"),
        (
            {
                let mut p = good.clone();
                p["state"] = json!("on");
                p
            },
            "unknown state",
        ),
        (
            {
                let mut p = good.clone();
                p["conditions"]["users"] = json!({"includeUsers": []});
                p
            },
            "includeUsers",
        ),
        (
            {
                let mut p = good.clone();
                p["conditions"]["users"]["includeRoles"] = json!(["x"]);
                p
            },
            "includeRoles",
        ),
        (
            {
                let mut p = good.clone();
                p["conditions"]["users"]["includeUsers"] = json!(["no-such-user"]);
                p
            },
            "no user with id",
        ),
        (
            {
                let mut p = good.clone();
                p["conditions"]["applications"]["includeApplications"] = json!(["nope"]);
                p
            },
            "no application",
        ),
        (
            {
                let mut p = good.clone();
                p["grantControls"]["builtInControls"] = json!(["block", "mfa"]);
                p
            },
            "block cannot be combined",
        ),
        (
            {
                let mut p = good.clone();
                p["grantControls"]["builtInControls"] = json!(["compliantDevice"]);
                p
            },
            "unknown variant",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = world
            .call(Method::POST, path, Some(&token), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{expected}: {answer}"
        );
    }
    let (status, created) = world
        .call(Method::POST, path, Some(&token), Some(good))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    let (status, got) = world
        .call(Method::GET, &format!("{path}/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["grantControls"]["builtInControls"][0], "mfa");
    let (status, _) = world
        .call(Method::GET, &format!("{path}/nope"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A member without the permission cannot touch policies.
    let (status, _) = world.call(Method::GET, path, Some(&plain), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .call(Method::DELETE, &format!("{path}/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, audit) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(&token), None)
        .await;
    let activities: Vec<&str> = audit["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["activityDisplayName"].as_str())
        .collect();
    assert!(
        activities.contains(&"Add conditional access policy")
            && activities.contains(&"Delete conditional access policy"),
        "{activities:?}"
    );
}

#[tokio::test]
async fn redemption_ends_through_conditional_access_and_the_redeemed_mailbox_counts_as_proof() {
    let world = World::new().await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["GuestsOrExternalUsers"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, "rita@partner.example").await;
    let browser = world.app.browser();
    let finished = crate::b2b::redeem(&world, &browser, "rita@partner.example", 1).await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&finished).unwrap().contains("/login?tx="),
        "the second factor before inviteRedirectUrl"
    );
    let page = follow(&browser, finished).await;
    // The passcode of the redemption just proved the mailbox: straight to the QR code.
    assert!(page.contains("value=\"enroll\""), "{page}");
    let uri = enrolment_uri(&page);
    let secret = secret_of(&uri);
    let recovery = follow(
        &browser,
        submit(&browser, &page, &[("code", &code(&secret, 0))]).await,
    )
    .await;
    let done = submit(&browser, &recovery, &[]).await;
    assert_eq!(
        location(&done).unwrap(),
        format!("{}/welcome", crate::b2b::APP_ORIGIN)
    );
}

#[tokio::test]
async fn enrolment_needs_a_recent_sign_in_and_further_factors_or_codes_need_mfa() {
    let world = World::with(|config| config.tokens.enrolment_window = 3).await;
    let user = member(&world, "later@contoso.example").await;
    let browser = world.app.browser();
    let (response, _) = password_step(&world, &browser, &world.web, &user.email, &[]).await;
    assert!(
        is_callback(&response),
        "no policy: signed in with a password"
    );
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    // The password is now older than the window: MFA asked for, enrolment needs it again.
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("acr_values", ACR_MFA)]);
    let page = follow(&browser, browser.get(&url).await).await;
    assert!(page.contains("name=\"step\" value=\"password\""), "{page}");
    let enroll = follow(&browser, browser.submit_password(&page, PASSWORD).await).await;
    assert!(enroll.contains("value=\"enroll\""), "{enroll}");
    let uri = enrolment_uri(&enroll);
    let secret = secret_of(&uri);
    let recovery = follow(
        &browser,
        submit(&browser, &enroll, &[("code", &code(&secret, 0))]).await,
    )
    .await;
    let done = submit(&browser, &recovery, &[]).await;
    let claims = id_claims(&world, &world.web, &done, &pkce).await;
    assert_eq!(claims["acr"], ACR_MFA);

    // A password-only session may not add a second authenticator or replace recovery codes.
    let plain = world.app.browser();
    let (response, _) = password_step(&world, &plain, &world.web, &user.email, &[]).await;
    assert!(is_callback(&response));
    let page = plain
        .get(&format!("{}/security-info", world.issuer()))
        .await
        .text()
        .await
        .unwrap();
    let forms_at = page.rfind("<form").unwrap();
    for action in ["add", "recovery"] {
        let response = submit(&plain, &page[forms_at..], &[("action", action)]).await;
        assert!(
            location(&response).unwrap().contains("/login?tx="),
            "{action}: steps up first"
        );
        let challenge = follow(&plain, response).await;
        assert!(
            challenge.contains("value=\"totp\""),
            "{action}: {challenge}"
        );
    }
    assert_eq!(
        world
            .app
            .state
            .store
            .totp_methods(&user.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let left_before = world
        .app
        .state
        .store
        .recovery_codes_left(&user.id)
        .await
        .unwrap();
    assert_eq!(left_before, 10);
    // In the MFA session: new recovery codes, shown once, the old ones dead.
    let page = browser
        .get(&format!("{}/security-info", world.issuer()))
        .await
        .text()
        .await
        .unwrap();
    let forms_at = page.rfind("<form").unwrap();
    let response = submit(&browser, &page[forms_at..], &[("action", "recovery")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh = response.text().await.unwrap();
    let new_codes: Vec<&str> = fresh
        .split("<li><code>")
        .skip(1)
        .map(|s| &s[..s.find('<').unwrap()])
        .collect();
    assert_eq!(new_codes.len(), 10);
    let old_codes: Vec<&str> = recovery
        .split("<li><code>")
        .skip(1)
        .map(|s| &s[..s.find('<').unwrap()])
        .collect();
    assert!(old_codes.iter().all(|c| !new_codes.contains(c)));
    let state = &world.app.state;
    assert!(
        !state
            .store
            .use_recovery_code(
                &user.id,
                &totp::recovery_code_hash(old_codes[0]),
                unix_now()
            )
            .await
            .unwrap(),
        "old codes are void"
    );
    // Adding a second authenticator in the MFA session goes straight to a new QR code.
    let response = submit(
        &browser,
        &fresh[fresh.rfind("<form").unwrap()..],
        &[("action", "add")],
    )
    .await;
    let second = follow(&browser, response).await;
    assert!(second.contains("value=\"enroll\""), "{second}");
}

/// Signs `email` in with a password in `browser` and answers the second factor.
async fn sign_in_with_factor(
    world: &World,
    browser: &Browser,
    email: &str,
    answer_code: &str,
) -> Response {
    let (response, _) = password_step(world, browser, &world.web, email, &[]).await;
    answer(browser, response, answer_code).await
}

#[tokio::test]
async fn correct_second_factors_from_one_address_never_lock_it() {
    // A partner signs in from one NAT address: 21 people there use all ten of their recovery
    // codes (210 correct second factors, no wrong one); the next person's TOTP still works.
    let world = World::new().await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    let mut people = Vec::new();
    for n in 0..21 {
        let user = member(&world, &format!("nat{n}@contoso.example")).await;
        let (_, codes) = authenticator(&world, &user).await;
        people.push((user, codes));
    }
    let results = futures::future::join_all(people.iter().map(|(user, codes)| {
        let world = &world;
        async move {
            let mut ok = 0;
            for recovery in codes {
                let browser = world.app.browser();
                if is_callback(&sign_in_with_factor(world, &browser, &user.email, recovery).await) {
                    ok += 1;
                }
            }
            ok
        }
    }))
    .await;
    assert_eq!(
        results.iter().sum::<usize>(),
        210,
        "every correct factor accepted"
    );
    let last = member(&world, "nat-last@contoso.example").await;
    let (secret, _) = authenticator(&world, &last).await;
    let response =
        sign_in_with_factor(&world, &world.app.browser(), &last.email, &code(&secret, 0)).await;
    assert!(
        is_callback(&response),
        "a correct code is never throttled by others' correct codes"
    );
}

#[tokio::test]
async fn wrong_codes_from_one_address_lock_it_apart_from_each_account_and_say_so() {
    let world = World::with(|config| {
        config.throttle.address_free_failures = 3;
        config.throttle.address_lockout = 50;
    })
    .await;
    only_policy(
        &world,
        Some(policy(
            json!({"includeUsers": ["All"]}),
            json!({"includeApplications": ["All"]}),
            "mfa",
            "enabled",
        )),
    )
    .await;
    // Four people at one address each get their code wrong once: no account is throttled,
    // but the address now waits, and the page says that is why.
    for n in 0..4 {
        let user = member(&world, &format!("typo{n}@contoso.example")).await;
        let (secret, _) = authenticator(&world, &user).await;
        let wrong = if code(&secret, 0) == "000000" {
            "111111"
        } else {
            "000000"
        };
        let browser = world.app.browser();
        let response = sign_in_with_factor(&world, &browser, &user.email, wrong).await;
        let (status, page) = browser.refused_page(response).await;
        assert_eq!(status, StatusCode::OK, "{n}: {page}");
    }
    let next = member(&world, "next@contoso.example").await;
    let (secret, _) = authenticator(&world, &next).await;
    let browser = world.app.browser();
    let response = sign_in_with_factor(&world, &browser, &next.email, &code(&secret, 0)).await;
    let (status, page) = browser.refused_page(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.contains("Too many wrong codes came from your network"),
        "{page}"
    );
}
