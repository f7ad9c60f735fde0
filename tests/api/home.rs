//! Tenants on this Gatehouse as guests' home identities (issue "guest federation", first
//! part; SECURITY.md G.53, G.56): the redemption router and its dry run, redemption and later
//! sign-ins at the home tenant bound by object id (never by address), sign-in logs in both
//! tenants, MFA trust per home tenant, and no token when home says no.

use gatehouse::domain::user::User;
use gatehouse::services::admin::UserInput;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{
    APP_ORIGIN, CALLBACK, SLUG, World, follow, id_claims, invitation_landing, submit,
};
use crate::helpers::{Browser, Pkce, location};

const HOME: &str = "fabrikam";
const BOB: &str = "bob@fabrikam.example";
const CAROL: &str = "carol@fabrikam.example";
const PASSWORD: &str = "bob's home password";

/// The resource world (contoso) plus a home tenant (fabrikam) with two members.
async fn worlds() -> (World, User) {
    let world = World::new().await;
    world.app.tenant(HOME).await;
    let mut bob = None;
    for email in [BOB, CAROL] {
        let user = gatehouse::services::admin::create_user(
            world.app.state.store.as_ref(),
            &world.app.state.passwords,
            UserInput {
                tenant: HOME.into(),
                email: email.into(),
                name: "Home Member".into(),
                password: Some(PASSWORD.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        bob.get_or_insert(user);
    }
    (world, bob.unwrap())
}

/// Redeems Bob's invitation at his home tenant; returns the guest's object id at contoso.
async fn redeem_at_home(world: &World, browser: &Browser) -> String {
    let token = world.backend_token().await;
    let invited = world.invite_to_app(&token, BOB).await;
    let mail = world.smtp.wait_for(BOB, 1).await;
    let landing = invitation_landing(world, browser, &mail).await;
    let to_home = submit(browser, &landing, &[]).await;
    let home_page = location(&to_home).unwrap();
    assert!(
        home_page.starts_with(&format!("/{HOME}/login?tx=")),
        "{home_page}"
    );
    let page = follow(browser, to_home).await;
    assert!(
        page.contains(BOB) && page.contains("name=\"password\""),
        "{page}"
    );
    let back = browser.submit_password(&page, PASSWORD).await;
    assert!(
        location(&back)
            .unwrap()
            .starts_with(&format!("/{SLUG}/login?tx=")),
        "back to the inviting tenant"
    );
    let consent = follow(browser, browser.get(&location(&back).unwrap()).await).await;
    assert!(consent.contains("will receive"), "{consent}");
    let done = submit(browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(location(&done).unwrap(), format!("{APP_ORIGIN}/welcome"));
    assert_eq!(world.smtp.mails_to(BOB).len(), 1, "no passcode was needed");
    invited["invitedUser"]["id"].as_str().unwrap().to_owned()
}

/// Signs Bob in to contoso's web app in a fresh browser through his home tenant; returns
/// the ID token claims.
async fn sign_in_through_home(world: &World) -> Value {
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid email", &pkce, &[("nonce", "n")]);
    let (_, html) = browser.open_login(&url).await;
    let identify = {
        let mut form = crate::helpers::parse_form(&html);
        form.fields.insert("email".into(), BOB.into());
        browser.post_form(&form.action, &form.fields).await
    };
    let discovered = browser.get(&location(&identify).unwrap()).await;
    assert!(
        location(&discovered)
            .unwrap()
            .starts_with(&format!("/{HOME}/login?tx=")),
        "home-realm discovery sends Bob home"
    );
    let page = follow(&browser, discovered).await;
    let back = browser.submit_password(&page, PASSWORD).await;
    let done = browser.get(&location(&back).unwrap()).await;
    id_claims(world, &world.web, &done, &pkce).await
}

#[tokio::test]
async fn a_member_of_another_tenant_redeems_and_signs_in_at_home() {
    let (world, bob) = worlds().await;
    let token = world.backend_token().await;
    let (status, dry) = world
        .call(
            Method::GET,
            &format!("policies/externalCollaboration/redemptionRoute?address={BOB}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["route"], "homeTenant");
    assert_eq!(dry["homeTenant"]["slug"], HOME);
    let (_, other) = world
        .call(
            Method::GET,
            "policies/externalCollaboration/redemptionRoute?address=gus@partner.example",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(other["route"], "emailOneTimePasscode");
    assert_eq!(other["considered"][0]["applies"], false, "{other}");

    let browser = world.app.browser();
    let guest_id = redeem_at_home(&world, &browser).await;
    let identities = world.app.state.store.identities(&guest_id).await.unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].issuer, world.app.issuer(HOME));
    assert_eq!(
        identities[0].issuer_assigned_id, bob.id,
        "bound by object id"
    );

    let claims = sign_in_through_home(&world).await;
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["idp"], world.app.issuer(HOME));
    assert_eq!(claims["home_oid"], bob.id);
    assert_eq!(claims["home_tid"], bob.tenant_id);
    assert_eq!(claims["acct"], 1);
    assert_eq!(claims["amr"], json!(["fed"]));

    // A guest bound to a home tenant gets no mailed code here.
    let code_browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("login_hint", BOB)]);
    let response = code_browser.get(&url).await;
    let page = code_browser.get(&location(&response).unwrap()).await;
    assert!(location(&page).unwrap().starts_with(&format!("/{HOME}/")));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(world.smtp.mails_to(BOB).len(), 1);

    // Both tenants log the sign-in.
    let (_, resource_log) = world
        .call(
            Method::GET,
            &format!("auditLogs/signIns?$filter=userId eq '{guest_id}'"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        resource_log["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["identityProvider"] == world.app.issuer(HOME)
                && e["status"]["errorCode"] == 0
                && e["ipAddress"] == "127.0.0.1"),
        "{resource_log}"
    );
    let home = gatehouse::services::admin::tenant_by_slug(world.app.state.store.as_ref(), HOME)
        .await
        .unwrap();
    let home_log = gatehouse::services::access::sign_ins(
        &world.app.state,
        &home.id,
        &Default::default(),
        50,
        0,
    )
    .await
    .unwrap();
    assert!(
        home_log
            .iter()
            .any(|e| e.user_id.as_deref() == Some(bob.id.as_str())
                && e.details["protocol"] == "home"),
        "the home tenant logs it too"
    );
}

#[tokio::test]
async fn a_guest_made_a_member_keeps_signing_in_at_home() {
    let (world, _bob) = worlds().await;
    let browser = world.app.browser();
    let guest_id = redeem_at_home(&world, &browser).await;
    let token = world.backend_token().await;
    let (status, body) = world
        .call(
            Method::PATCH,
            &format!("users/{guest_id}"),
            Some(&token),
            Some(json!({ "userType": "Member" })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // The type only: the identity and the sign-in at home stay.
    let claims = sign_in_through_home(&world).await;
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["idp"], world.app.issuer(HOME));
    assert_eq!(claims["acct"], 0);
}

#[tokio::test]
async fn someone_else_at_home_or_a_disabled_home_account_gets_nothing() {
    let (world, bob) = worlds().await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, BOB).await;
    let mail = world.smtp.wait_for(BOB, 1).await;
    let browser = world.app.browser();
    let landing = invitation_landing(&world, &browser, &mail).await;
    let page = follow(&browser, submit(&browser, &landing, &[]).await).await;
    // Carol signs in at home instead of Bob: the invitation is not bound to her.
    let restart = submit(&browser, &page, &[("action", "restart")]).await;
    let identify = follow(&browser, restart).await;
    let password = browser.submit_email(&identify, CAROL).await;
    let refused = browser.submit_password(&password, PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("the invitation is for")
    );

    // Bob redeems; then his home account is disabled: no more tokens at contoso.
    let fresh = world.app.browser();
    let landing = invitation_landing(&world, &fresh, &mail).await;
    let page = follow(&fresh, submit(&fresh, &landing, &[]).await).await;
    let back = fresh.submit_password(&page, PASSWORD).await;
    let consent = follow(&fresh, fresh.get(&location(&back).unwrap()).await).await;
    submit(&fresh, &consent, &[("decision", "allow")]).await;
    gatehouse::services::admin::set_user_enabled(
        world.app.state.store.as_ref(),
        &bob.tenant_id,
        &bob.id,
        false,
    )
    .await
    .unwrap();
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("login_hint", BOB)]);
    let response = browser.get(&url).await;
    let home_page = follow(&browser, browser.get(&location(&response).unwrap()).await).await;
    let attempt = browser.submit_password(&home_page, PASSWORD).await;
    let (status, page) = browser.refused_page(attempt).await;
    assert_eq!(status, StatusCode::OK, "the home tenant refuses");
    assert!(page.contains("incorrect"));
}

#[tokio::test]
async fn home_mfa_counts_only_when_the_resource_trusts_that_tenant() {
    let (world, bob) = worlds().await;
    let token = world.backend_token().await;
    world.require_mfa_of_guests(&token).await;
    // Redemption ends in contoso's own second factor: Bob's home sign-in was a password.
    let browser = world.app.browser();
    world.invite_to_app(&token, BOB).await;
    let mail = world.smtp.wait_for(BOB, 1).await;
    let landing = invitation_landing(&world, &browser, &mail).await;
    let page = follow(&browser, submit(&browser, &landing, &[]).await).await;
    let back = browser.submit_password(&page, PASSWORD).await;
    let consent = follow(&browser, browser.get(&location(&back).unwrap()).await).await;
    let challenged = submit(&browser, &consent, &[("decision", "allow")]).await;
    assert!(
        location(&challenged).unwrap().contains("/login?tx="),
        "contoso runs its own second factor"
    );
    let mfa_page = follow(&browser, challenged).await;
    assert!(
        mfa_page.contains("value=\"mailbox_code\""),
        "a home sign-in does not prove the mailbox: {mfa_page}"
    );

    // With trust in fabrikam's MFA, a member who did MFA at home is not challenged again.
    let (status, _) = world
        .call(
            Method::PATCH,
            "policies/externalCollaboration",
            Some(&token),
            Some(json!({"mfaTrustedTenants": [HOME]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Fabrikam requires MFA of its members; Bob has an authenticator there.
    let home = gatehouse::services::admin::tenant_by_slug(world.app.state.store.as_ref(), HOME)
        .await
        .unwrap();
    crate::factors::policy(
        &world.app.state,
        &home,
        json!({
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]}
        }),
        json!({"builtInControls": ["mfa"]}),
    )
    .await;
    let (secret, _) = crate::factors::authenticator(&world.app.state, &home.id, &bob.id).await;
    let code = crate::factors::code(&secret, 0);
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[("login_hint", BOB)]);
    let response = browser.get(&url).await;
    let home_page = follow(&browser, browser.get(&location(&response).unwrap()).await).await;
    let after_password = browser.submit_password(&home_page, PASSWORD).await;
    let home_mfa = follow(&browser, after_password).await;
    assert!(
        home_mfa.contains("value=\"totp\""),
        "fabrikam's own policy: {home_mfa}"
    );
    let back = submit(&browser, &home_mfa, &[("code", &code)]).await;
    let done = browser.get(&location(&back).unwrap()).await;
    // Trusted home MFA: no second challenge, straight back to the app.
    let claims = id_claims(&world, &world.web, &done, &pkce).await;
    assert_eq!(claims["amr"], json!(["fed", "mfa"]));
    assert_eq!(claims["acr"], "https://refeds.org/profile/mfa");
}

#[tokio::test]
async fn prompt_login_at_the_resource_means_a_fresh_sign_in_at_home() {
    let (world, _bob) = worlds().await;
    let browser = world.app.browser();
    redeem_at_home(&world, &browser).await;
    // The browser is signed in at home and at contoso; prompt=login must not be answered
    // from the home session.
    let pkce = Pkce::new();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid",
        &pkce,
        &[("prompt", "login"), ("login_hint", BOB)],
    );
    let to_login = browser.get(&url).await;
    let to_home = browser.get(&location(&to_login).unwrap()).await;
    assert!(
        location(&to_home)
            .unwrap()
            .starts_with(&format!("/{HOME}/login?tx=")),
        "sent home to sign in again"
    );
    let page = follow(&browser, to_home).await;
    assert!(
        page.contains("name=\"password\""),
        "a password page, not a silent answer: {page}"
    );
    let back = browser.submit_password(&page, PASSWORD).await;
    let done = browser.get(&location(&back).unwrap()).await;
    let callback = location(&done).unwrap();
    assert!(callback.starts_with(CALLBACK), "{callback}");
}

#[tokio::test]
async fn saml_assertions_for_a_guest_from_a_home_tenant_name_the_home_ids() {
    let (world, bob) = worlds().await;
    let browser = world.app.browser();
    redeem_at_home(&world, &browser).await;
    const SP: &str = "https://payroll.contoso.example/saml";
    const ACS: &str = "https://payroll.contoso.example/acs";
    world
        .app
        .app(gatehouse::services::admin::AppInput {
            tenant: SLUG.into(),
            name: "Payroll".into(),
            saml: Some(gatehouse::services::admin::SamlInput {
                entity_id: Some(SP.into()),
                acs_urls: vec![ACS.into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let request = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_home1" Version="2.0" IssueInstant="{}" AssertionConsumerServiceURL="{ACS}"><saml:Issuer>{SP}</saml:Issuer></samlp:AuthnRequest>"#,
        gatehouse::saml::response::instant(gatehouse::domain::unix_now())
    );
    let encoded: String = url::form_urlencoded::byte_serialize(
        gatehouse::samlxml::xml::encode_redirect(&request).as_bytes(),
    )
    .collect();
    // The guest's session at contoso (from the home sign-in) answers; consent if asked.
    let mut response = browser
        .get(&format!(
            "{}/saml/sso?SAMLRequest={encoded}",
            world.issuer()
        ))
        .await;
    let mut assertion = None;
    for _ in 0..6 {
        if response.status() == StatusCode::SEE_OTHER {
            response = browser.get(&location(&response).unwrap()).await;
            continue;
        }
        let page = response.text().await.unwrap();
        if page.contains("SAMLResponse") {
            let form = crate::helpers::parse_form(&page);
            assertion = Some(form.fields["SAMLResponse"].clone());
            break;
        }
        assert!(page.contains("will receive"), "consent expected: {page}");
        response = submit(&browser, &page, &[("decision", "allow")]).await;
    }
    let xml = gatehouse::samlxml::xml::decode_post(&assertion.expect("a SAML response")).unwrap();
    let home = gatehouse::services::admin::tenant_by_slug(world.app.state.store.as_ref(), HOME)
        .await
        .unwrap();
    let value_of = |name: &str| {
        let at = xml
            .find(&format!("Name=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} in {xml}"));
        let rest = &xml[at..];
        let value = &rest[rest.find("AttributeValue").unwrap()..];
        let start = value.find('>').unwrap() + 1;
        value[start..start + value[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(
        value_of("http://schemas.gatehouse.dev/claims/hometenantid"),
        home.id
    );
    assert_eq!(
        value_of("http://schemas.gatehouse.dev/claims/homeobjectid"),
        bob.id
    );
    assert_eq!(
        value_of("http://schemas.microsoft.com/identity/claims/identityprovider"),
        world.app.issuer(HOME)
    );
    assert_eq!(
        value_of("http://schemas.microsoft.com/claims/authnmethodsreferences"),
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/unspecified",
        "signed in at home, not with a password here"
    );
}
