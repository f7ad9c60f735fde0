//! Partner OpenID Connect providers as guests' home IdPs (SECURITY.md G.51–55): another
//! Gatehouse tenant plays the partner's OIDC provider over real HTTP (its own authorize,
//! token and JWKS endpoints). Registration rules, routing, redemption bound to (issuer, sub)
//! only for a verified invited address, home-realm discovery, single-use state, `iss` mix-up
//! defence (a forged `iss`, or none from a partner whose discovery promises it), and no token
//! when the partner refuses.

use gatehouse::domain::user::{Identity, User};
use gatehouse::services::admin::{AppInput, TenantInput, UserInput};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{APP_ORIGIN, World, follow, id_claims, invitation_landing, submit};
use crate::helpers::{Browser, Pkce, location, query_param};

const PARTNER: &str = "northwind";
const DAVE: &str = "dave@northwind.example";
const CAROL: &str = "carol@northwind.example";
const PASSWORD: &str = "northwind password";

/// A member of the partner's directory, with its address verified or not.
async fn partner_user(world: &World, email: &str, verified: bool) -> User {
    let mut user = gatehouse::services::admin::create_user(
        world.app.state.store.as_ref(),
        &world.app.state.passwords,
        UserInput {
            tenant: PARTNER.into(),
            email: format!("template.{email}"),
            name: "Partner User".into(),
            password: Some(PASSWORD.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    user.id = uuid::Uuid::new_v4().to_string();
    user.email = email.to_owned();
    user.upn = email.to_owned();
    user.email_verified = verified;
    world
        .app
        .state
        .store
        .create_user(
            &user,
            &[Identity {
                sign_in_type: "userPrincipalName".into(),
                issuer: "northwind".into(),
                issuer_assigned_id: email.to_owned(),
            }],
        )
        .await
        .unwrap();
    user
}

/// Contoso with Northwind (a tenant with no verified domains, standing in for a partner's
/// OIDC provider) registered as the partner IdP of northwind.example.
async fn world_with_partner(trust_mfa: bool) -> (World, String) {
    let (world, partner_id, _) = world_with_partner_secret(trust_mfa).await;
    (world, partner_id)
}

/// [`world_with_partner`], also returning Contoso's client secret at Northwind.
async fn world_with_partner_secret(trust_mfa: bool) -> (World, String, String) {
    let world = World::new().await;
    gatehouse::services::admin::create_tenant(
        world.app.state.store.as_ref(),
        TenantInput {
            slug: PARTNER.into(),
            name: "Northwind".into(),
            domains: vec![],
        },
    )
    .await
    .unwrap();
    partner_user(&world, DAVE, true).await;
    partner_user(&world, CAROL, false).await;
    let (client_id, secret) = world
        .app
        .app(AppInput {
            tenant: PARTNER.into(),
            name: "Contoso guest access".into(),
            redirect_uris: vec![format!("{}/federation/oidc/callback", world.issuer())],
            ..Default::default()
        })
        .await;
    let token = world.backend_token().await;
    let path = "identity/identityProviders";
    let body = |domains: Value, attest: bool| {
        json!({
            "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
            "displayName": "Northwind",
            "issuer": world.app.issuer(PARTNER),
            "clientId": client_id,
            "clientSecret": secret,
            "scope": "email profile",
            "domains": domains,
            "attestDomains": attest,
            "trustMfa": trust_mfa,
        })
    };
    // Domain rules: consumer domains, other tenants' verified domains, unproven domains.
    for (domains, attest, expected) in [
        (json!([{"id": "gmail.com"}]), true, "consumer mail domain"),
        (
            json!([{"id": "contoso.example"}]),
            true,
            "verified domain of tenant contoso",
        ),
        (json!([{"id": "northwind.example"}]), false, "not proven"),
    ] {
        let (status, answer) = world
            .call(
                Method::POST,
                path,
                Some(&token),
                Some(body(domains, attest)),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{expected}: {answer}"
        );
    }
    let (status, created) = world
        .call(
            Method::POST,
            path,
            Some(&token),
            Some(body(json!([{"id": "northwind.example"}]), true)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        created.get("clientSecret").is_none(),
        "secrets are write-only"
    );
    assert_eq!(created["domains"][0]["proof"], "adminAttestation");
    let (_, audit) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(&token), None)
        .await;
    assert!(
        audit["value"].as_array().unwrap().iter().any(|e| {
            e["activityDisplayName"] == "Add identity provider"
                && e["additionalDetails"]["attestedByAdministrator"] == true
        }),
        "the attestation is audited: {audit}"
    );
    let partner_id = created["id"].as_str().unwrap().to_owned();
    (world, partner_id, secret.unwrap())
}

/// Follows the browser from a response through the partner's sign-in (password) back to
/// contoso's callback; returns the callback's response.
async fn through_partner(
    browser: &Browser,
    to_partner: reqwest::Response,
    email: &str,
) -> reqwest::Response {
    let authorize = location(&to_partner).unwrap();
    assert!(
        authorize.contains(&format!("/{PARTNER}/oauth2/authorize?")),
        "sent to the partner: {authorize}"
    );
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="));
    let page = follow(browser, browser.get(&authorize).await).await;
    assert!(page.contains(email), "login_hint carried: {page}");
    let back = browser.submit_password(&page, PASSWORD).await;
    let callback = location(&back).unwrap();
    assert!(
        callback.contains("/federation/oidc/callback?"),
        "{callback}"
    );
    browser.get(&callback).await
}

/// Opens the invitation in `browser`, signs in at the partner with the password, and returns
/// the callback URL the partner sends the browser back to (not yet followed).
async fn partner_callback(world: &World, browser: &Browser, mail: &crate::smtp::Mail) -> String {
    let landing = invitation_landing(world, browser, mail).await;
    let to_partner = submit(browser, &landing, &[]).await;
    let page = follow(browser, browser.get(&location(&to_partner).unwrap()).await).await;
    let back = browser.submit_password(&page, PASSWORD).await;
    location(&back).unwrap()
}

#[tokio::test]
async fn a_partner_user_redeems_at_the_partner_idp_and_signs_in_there_later() {
    let (world, partner_id) = world_with_partner(false).await;
    let token = world.backend_token().await;
    let (_, dry) = world
        .call(
            Method::GET,
            &format!("policies/externalCollaboration/redemptionRoute?address={DAVE}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(dry["route"], "partnerIdp", "{dry}");
    assert_eq!(dry["partner"]["id"], partner_id);

    let invited = world.invite_to_app(&token, DAVE).await;
    let guest_id = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    let mail = world.smtp.wait_for(DAVE, 1).await;
    let browser = world.app.browser();
    let landing = invitation_landing(&world, &browser, &mail).await;
    let back = through_partner(&browser, submit(&browser, &landing, &[]).await, DAVE).await;
    let consent = follow(&browser, back).await;
    assert!(consent.contains("will receive"), "{consent}");
    let done = submit(&browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(location(&done).unwrap(), format!("{APP_ORIGIN}/welcome"));
    let identities = world.app.state.store.identities(&guest_id).await.unwrap();
    assert_eq!(identities[0].issuer, world.app.issuer(PARTNER));
    assert_ne!(
        identities[0].issuer_assigned_id, DAVE,
        "bound to the subject, not the address"
    );

    // Later: home-realm discovery sends Dave to the partner, and back with tokens.
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid email",
        &pkce,
        &[("login_hint", DAVE)],
    );
    let to_login = browser.get(&url).await;
    let to_partner = browser.get(&location(&to_login).unwrap()).await;
    let finished = through_partner(&browser, to_partner, DAVE).await;
    let claims = id_claims(&world, &world.web, &finished, &pkce).await;
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["idp"], world.app.issuer(PARTNER));
    assert_eq!(claims["amr"], json!(["fed"]));
    assert_eq!(claims["acct"], 1);
}

#[tokio::test]
async fn unverified_addresses_replayed_state_mix_up_and_a_refusing_partner_get_nothing() {
    let (world, _) = world_with_partner(false).await;
    let token = world.backend_token().await;
    // Carol's partner account has no verified address: the invitation is not bound.
    world.invite_to_app(&token, CAROL).await;
    let mail = world.smtp.wait_for(CAROL, 1).await;
    let browser = world.app.browser();
    let callback = partner_callback(&world, &browser, &mail).await;
    let refused = browser.get(&callback).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("did not confirm"));
    // The same callback again: the state was single use.
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // Mix-up: an answer claiming another issuer is refused.
    world.invite_to_app(&token, DAVE).await;
    let mail = world.smtp.wait_for(DAVE, 1).await;
    let browser = world.app.browser();
    let callback = partner_callback(&world, &browser, &mail).await;
    let iss = query_param(&callback, "iss").expect("the partner sends iss (RFC 9207)");
    let forged = callback.replace(
        &url::form_urlencoded::byte_serialize(iss.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.example",
    );
    assert_ne!(forged, callback);
    let mixed = browser.get(&forged).await;
    assert_eq!(mixed.status(), StatusCode::FORBIDDEN);
    assert!(
        mixed
            .text()
            .await
            .unwrap()
            .contains("another identity provider")
    );

    // The partner's discovery promises `iss` (RFC 9207): an answer without it is refused.
    let browser = world.app.browser();
    let callback = partner_callback(&world, &browser, &mail).await;
    let (path, query) = callback.split_once('?').unwrap();
    let without_iss: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("iss="))
        .collect();
    let stripped = browser
        .get(&format!("{path}?{}", without_iss.join("&")))
        .await;
    assert_eq!(stripped.status(), StatusCode::FORBIDDEN);

    // Another browser cannot finish someone's flow (state bound to the browser).
    let thief = world.app.browser();
    let victim = world.app.browser();
    let callback = partner_callback(&world, &victim, &mail).await;
    let stolen = thief.get(&callback).await;
    assert_eq!(
        stolen.status(),
        StatusCode::BAD_REQUEST,
        "expired for another browser"
    );

    // The partner refuses (error=access_denied on the callback): nothing is bound.
    let refusing = world.app.browser();
    let landing = invitation_landing(&world, &refusing, &mail).await;
    let to_partner = submit(&refusing, &landing, &[]).await;
    let authorize = location(&to_partner).unwrap();
    let state = query_param(&authorize, "state").unwrap();
    let answer = refusing
        .get(&format!(
            "{}/federation/oidc/callback?error=access_denied&state={state}",
            world.issuer()
        ))
        .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(answer.text().await.unwrap().contains("did not sign you in"));
}

#[tokio::test]
async fn a_trusted_partners_mfa_satisfies_the_policy() {
    let (world, _) = world_with_partner(true).await;
    let token = world.backend_token().await;
    world.require_mfa_of_guests(&token).await;
    // The partner (Northwind) requires MFA of its own users; Dave has an authenticator there.
    let northwind =
        gatehouse::services::admin::tenant_by_slug(world.app.state.store.as_ref(), PARTNER)
            .await
            .unwrap();
    crate::factors::policy(
        &world.app.state,
        &northwind,
        json!({
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]}
        }),
        json!({"builtInControls": ["mfa"]}),
    )
    .await;
    let dave = world
        .app
        .state
        .store
        .user_by_email(&northwind.id, DAVE)
        .await
        .unwrap();
    let (secret, _) =
        crate::factors::authenticator(&world.app.state, &northwind.id, &dave.id).await;
    let code = crate::factors::code(&secret, 0);
    world.invite_to_app(&token, DAVE).await;
    let mail = world.smtp.wait_for(DAVE, 1).await;
    let browser = world.app.browser();
    let landing = invitation_landing(&world, &browser, &mail).await;
    let to_partner = submit(&browser, &landing, &[]).await;
    let page = follow(&browser, browser.get(&location(&to_partner).unwrap()).await).await;
    let after_password = browser.submit_password(&page, PASSWORD).await;
    let partner_mfa = follow(&browser, after_password).await;
    assert!(
        partner_mfa.contains("value=\"totp\""),
        "the partner's own MFA: {partner_mfa}"
    );
    let back = submit(&browser, &partner_mfa, &[("code", &code)]).await;
    let consent = follow(&browser, browser.get(&location(&back).unwrap()).await).await;
    let done = submit(&browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(
        location(&done).unwrap(),
        format!("{APP_ORIGIN}/welcome"),
        "the partner's MFA satisfied contoso's policy: no second challenge"
    );
}

#[tokio::test]
async fn a_provider_offered_to_every_guest_is_chosen_on_the_invitation_page() {
    let world = World::new().await;
    gatehouse::services::admin::create_tenant(
        world.app.state.store.as_ref(),
        TenantInput {
            slug: PARTNER.into(),
            name: "Northwind".into(),
            domains: vec![],
        },
    )
    .await
    .unwrap();
    partner_user(&world, "erin@elsewhere.example", true).await;
    let (client_id, secret) = world
        .app
        .app(AppInput {
            tenant: PARTNER.into(),
            name: "Contoso guest access".into(),
            redirect_uris: vec![format!("{}/federation/oidc/callback", world.issuer())],
            ..Default::default()
        })
        .await;
    let token = world.backend_token().await;
    let (status, created) = world
        .call(
            Method::POST,
            "identity/identityProviders",
            Some(&token),
            Some(json!({
                "displayName": "Northwind",
                "issuer": world.app.issuer(PARTNER),
                "clientId": client_id,
                "clientSecret": secret,
                "offeredToAll": true,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, dry) = world
        .call(
            Method::GET,
            "policies/externalCollaboration/redemptionRoute?address=erin@elsewhere.example",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(dry["route"], "offeredIdps", "{dry}");
    world.invite_to_app(&token, "erin@elsewhere.example").await;
    let mail = world.smtp.wait_for("erin@elsewhere.example", 1).await;
    let browser = world.app.browser();
    let landing = invitation_landing(&world, &browser, &mail).await;
    let choose = follow(&browser, submit(&browser, &landing, &[]).await).await;
    assert!(choose.contains("Sign in with Northwind"), "{choose}");
    let id = created["id"].as_str().unwrap();
    let to_partner = submit(&browser, &choose, &[("action", &format!("idp:{id}"))]).await;
    let back = through_partner(&browser, to_partner, "erin@elsewhere.example").await;
    let consent = follow(&browser, back).await;
    let done = submit(&browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(location(&done).unwrap(), format!("{APP_ORIGIN}/welcome"));
}

#[tokio::test]
async fn an_upstream_account_claiming_a_guests_address_gets_nothing_of_that_guest() {
    // nOAuth (SECURITY.md G.53): the binding is (issuer, sub). Someone else at the partner
    // who signs in while Dave's address is the hint gets no access to Dave's guest account.
    let (world, _) = world_with_partner(false).await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, DAVE).await;
    let mail = world.smtp.wait_for(DAVE, 1).await;
    let browser = world.app.browser();
    let landing = invitation_landing(&world, &browser, &mail).await;
    let back = through_partner(&browser, submit(&browser, &landing, &[]).await, DAVE).await;
    let consent = follow(&browser, back).await;
    submit(&browser, &consent, &[("decision", "allow")]).await;

    let attacker = world.app.browser();
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("login_hint", DAVE)]);
    let to_login = attacker.get(&url).await;
    let to_partner = attacker.get(&location(&to_login).unwrap()).await;
    let partner_page = follow(
        &attacker,
        attacker.get(&location(&to_partner).unwrap()).await,
    )
    .await;
    // At the partner, Carol signs in instead (another subject).
    let identify = follow(
        &attacker,
        submit(&attacker, &partner_page, &[("action", "restart")]).await,
    )
    .await;
    let password = attacker.submit_email(&identify, CAROL).await;
    let back = attacker.submit_password(&password, PASSWORD).await;
    let answer = attacker.get(&location(&back).unwrap()).await;
    assert_eq!(
        answer.status(),
        StatusCode::FORBIDDEN,
        "no guest is bound to Carol's subject"
    );
    assert!(answer.text().await.unwrap().contains("no guest account"));
}

/// Redeems the invitation in `mail` through the partner and allows the consent; returns the
/// final response (a redirect to the app, or the page that says what happened).
async fn redeem_through_partner(
    world: &World,
    mail: &crate::smtp::Mail,
    email: &str,
) -> reqwest::Response {
    let browser = world.app.browser();
    let landing = invitation_landing(world, &browser, mail).await;
    let back = through_partner(&browser, submit(&browser, &landing, &[]).await, email).await;
    let consent = follow(&browser, back).await;
    assert!(consent.contains("will receive"), "consent first: {consent}");
    let answer = submit(&browser, &consent, &[("decision", "allow")]).await;
    // A page that only says where things stand is shown by the GET after the POST (and again
    // on a reload); any other answer goes on to the app.
    match location(&answer) {
        Some(page) if page.contains("/login?tx=") => {
            let shown = browser.get(&page).await;
            let reloaded = browser.get(&page).await;
            assert_eq!(
                reloaded.status(),
                shown.status(),
                "a reload shows the page again"
            );
            shown
        }
        _ => answer,
    }
}

/// Home-realm discovery for `email` through the partner; returns the final response.
async fn sign_in_through_partner(world: &World, email: &str, pkce: &Pkce) -> reqwest::Response {
    let browser = world.app.browser();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid email",
        pkce,
        &[("login_hint", email)],
    );
    let to_login = browser.get(&url).await;
    let to_partner = browser.get(&location(&to_login).unwrap()).await;
    through_partner(&browser, to_partner, email).await
}

/// The ids of the tenant's pending held redemptions, newest first.
async fn pending_held(world: &World, token: &str) -> Vec<String> {
    let (status, list) = world
        .call(
            Method::GET,
            "heldRedemptions?$filter=status eq 'pending'",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `POST heldRedemptions/{id}/{decision}` (approve or deny).
async fn decide_held(world: &World, token: &str, id: &str, decision: &str) -> (StatusCode, Value) {
    world
        .call(
            Method::POST,
            &format!("heldRedemptions/{id}/{decision}"),
            Some(token),
            None,
        )
        .await
}

#[tokio::test]
async fn a_redemption_the_partner_cannot_confirm_is_held_for_an_administrator() {
    const ERIN: &str = "erin@northwind.example";
    const FRANK: &str = "frank@northwind.example";
    let (world, partner_id) = world_with_partner(false).await;
    partner_user(&world, ERIN, false).await;
    partner_user(&world, FRANK, false).await;
    let token = world.backend_token().await;
    let (status, settings) = world
        .call(
            Method::PATCH,
            "policies/externalCollaboration",
            Some(&token),
            Some(json!({"unverifiedAddressRedemption": "holdForApproval"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");

    // Carol's partner account does not verify her address: after consent the request waits.
    let invited = world.invite_to_app(&token, CAROL).await;
    let guest_id = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    let mail = world.smtp.wait_for(CAROL, 1).await;
    let held = redeem_through_partner(&world, &mail, CAROL).await;
    assert_eq!(held.status(), StatusCode::ACCEPTED);
    assert!(held.text().await.unwrap().contains("asked to approve"));
    assert!(
        world
            .app
            .state
            .store
            .identities(&guest_id)
            .await
            .unwrap()
            .is_empty(),
        "nothing is bound while the request waits"
    );
    // Asking again from another browser adds no second request.
    let again = redeem_through_partner(&world, &mail, CAROL).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let (status, list) = world
        .call(
            Method::GET,
            "heldRedemptions?$filter=status eq 'pending'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let requests = list["value"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{list}");
    let request = &requests[0];
    assert_eq!(request["invitedUserId"], guest_id);
    assert_eq!(request["invitedUserEmailAddress"], CAROL);
    assert_eq!(request["identityProviderId"], partner_id);
    assert_eq!(request["issuer"], world.app.issuer(PARTNER));
    assert_eq!(request["assertedEmailAddress"], CAROL);
    assert_eq!(request["assertedEmailVerified"], false);
    assert_eq!(request["status"], "pending");
    let held_id = request["id"].as_str().unwrap().to_owned();

    // Until an administrator approves, nothing is bound: signing in as Carol does not send
    // her to the partner (no home-realm discovery), it stays on Gatehouse's own page.
    let browser = world.app.browser();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid",
        &Pkce::new(),
        &[("login_hint", CAROL)],
    );
    let to_login = browser.get(&url).await;
    let page = browser.get(&location(&to_login).unwrap()).await;
    assert_eq!(page.status(), StatusCode::OK, "no redirect to the partner");

    // Deciding needs User.ReadWrite.All: a guest inviter may list but not approve.
    let (client_id, secret) = world
        .app
        .app(AppInput {
            tenant: crate::b2b::SLUG.into(),
            name: "Guest inviter".into(),
            grants: vec!["client_credentials".into()],
            permissions: vec!["User.Invite.All".into()],
            ..Default::default()
        })
        .await;
    let inviter = world
        .app_token(&crate::helpers::Client {
            client_id,
            secret,
            redirect_uri: String::new(),
        })
        .await;
    let approve = format!("heldRedemptions/{held_id}/approve");
    let (status, _) = world
        .call(Method::GET, "heldRedemptions", Some(&inviter), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = world
        .call(Method::POST, &approve, Some(&inviter), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, approved) = world.call(Method::POST, &approve, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert!(approved["decidedDateTime"].is_string());
    let (status, twice) = world.call(Method::POST, &approve, Some(&token), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{twice}");
    let identities = world.app.state.store.identities(&guest_id).await.unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].issuer, world.app.issuer(PARTNER));
    let (_, user) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(user["externalUserState"], "Accepted", "{user}");
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
        activities.contains(&"Hold external user redemption for approval")
            && activities.contains(&"Approve held external user redemption"),
        "{activities:?}"
    );

    // Now home-realm discovery signs Carol in as the guest.
    let pkce = Pkce::new();
    let finished = sign_in_through_partner(&world, CAROL, &pkce).await;
    let claims = id_claims(&world, &world.web, &finished, &pkce).await;
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["idp"], world.app.issuer(PARTNER));

    // Denied: Erin's identity is refused for that invitation from then on.
    world.invite_to_app(&token, ERIN).await;
    let mail = world.smtp.wait_for(ERIN, 1).await;
    assert_eq!(
        redeem_through_partner(&world, &mail, ERIN).await.status(),
        StatusCode::ACCEPTED
    );
    let erin = pending_held(&world, &token).await.remove(0);
    let (status, denied) = decide_held(&world, &token, &erin, "deny").await;
    assert_eq!(status, StatusCode::OK, "{denied}");
    assert_eq!(denied["status"], "denied");
    let refused = redeem_through_partner(&world, &mail, ERIN).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("declined"));
    let (status, _) = decide_held(&world, &token, &erin, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "a denial is final");

    // A request whose invitation was revoked meanwhile cannot be approved; it closes.
    let invited = world.invite_to_app(&token, FRANK).await;
    let mail = world.smtp.wait_for(FRANK, 1).await;
    redeem_through_partner(&world, &mail, FRANK).await;
    let frank = pending_held(&world, &token).await.remove(0);
    let (status, _) = world
        .call(
            Method::POST,
            &format!("invitations/{}/revoke", invited["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, answer) = decide_held(&world, &token, &frank, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer pending")
    );
    let (_, closed) = world
        .call(
            Method::GET,
            &format!("heldRedemptions/{frank}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(closed["status"], "closed");
    let (status, _) = world
        .call(
            Method::GET,
            "heldRedemptions?$filter=nope",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_administrator_changes_a_partner_and_rotates_its_client_secret() {
    let (world, partner_id, secret) = world_with_partner_secret(false).await;
    let token = world.backend_token().await;
    let path = format!("identity/identityProviders/{partner_id}");
    let invited = world.invite_to_app(&token, DAVE).await;
    let guest_id = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    let mail = world.smtp.wait_for(DAVE, 1).await;
    let done = redeem_through_partner(&world, &mail, DAVE).await;
    assert_eq!(location(&done).unwrap(), format!("{APP_ORIGIN}/welcome"));

    // What cannot change, or breaks a rule, is refused and changes nothing.
    for (body, status, expected) in [
        (
            json!({"metadataXml": "<x/>"}),
            StatusCode::BAD_REQUEST,
            "SAML partners",
        ),
        (
            json!({"issuer": "https://evil.example"}),
            StatusCode::BAD_REQUEST,
            "issuer",
        ),
        (
            json!({"domains": [{"id": "gmail.com"}], "attestDomains": true}),
            StatusCode::BAD_REQUEST,
            "consumer",
        ),
        (
            json!({"domains": [], "offeredToAll": false}),
            StatusCode::BAD_REQUEST,
            "at least one domain",
        ),
        (
            json!({"domains": [{"id": "fabrikam.example"}]}),
            StatusCode::BAD_REQUEST,
            "not proven",
        ),
    ] {
        let (got, answer) = world
            .call(Method::PATCH, &path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{body}: {answer}"
        );
    }
    let (status, _) = world
        .call(
            Method::PATCH,
            "identity/identityProviders/nope",
            Some(&token),
            Some(json!({"displayName": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A wrong secret (say, rotated at the partner but not here) breaks sign-in at once …
    let (status, answer) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"clientSecret": "not the secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let pkce = Pkce::new();
    let broken = sign_in_through_partner(&world, DAVE, &pkce).await;
    assert!(
        !broken.status().is_redirection() && !broken.status().is_success(),
        "{}",
        broken.status()
    );

    // … and rotating to the partner's current secret, with a new name and an added domain
    // attested by the administrator, restores it.
    let (status, answer) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({
                "clientSecret": secret,
                "displayName": "Northwind Traders",
                "domains": [{"id": "northwind.example"}, {"id": "northwind-traders.example"}],
                "attestDomains": true,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let pkce = Pkce::new();
    let finished = sign_in_through_partner(&world, DAVE, &pkce).await;
    let claims = id_claims(&world, &world.web, &finished, &pkce).await;
    assert_eq!(claims["oid"], guest_id);
    let (_, list) = world
        .call(
            Method::GET,
            "identity/identityProviders",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list["value"][0]["displayName"], "Northwind Traders");
    assert_eq!(list["value"][0]["domains"].as_array().unwrap().len(), 2);
    let (_, dry) = world
        .call(
            Method::GET,
            "policies/externalCollaboration/redemptionRoute?address=x@northwind-traders.example",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        dry["route"], "partnerIdp",
        "the new domain routes at once: {dry}"
    );
    let (_, audit) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(&token), None)
        .await;
    let updates: Vec<&Value> = audit["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["activityDisplayName"] == "Update identity provider")
        .collect();
    assert_eq!(updates.len(), 2, "{audit}");
    assert!(
        updates.iter().any(|e| e["additionalDetails"]["changed"]
            == json!(["displayName", "clientSecret", "domains"])),
        "{audit}"
    );
    assert!(
        !audit.to_string().contains("not the secret"),
        "secrets never reach the audit log"
    );
}
