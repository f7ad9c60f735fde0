//! Who may call the admin API and what it refuses (SECURITY.md H.64–H.67): callers without a
//! token or the right permission, guests, the tenant's invitation policy and domain lists,
//! open-redirect attempts, links in messages, disallowed address characters, and answers that
//! reveal nothing about who has an account.

use gatehouse::services::admin::{AppInput, UserInput};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{APP_ORIGIN, SLUG, World, follow, redeem, submit};

const GUEST: &str = "grace@fabrikam.example";
const ALL_SCOPES: &str = "openid User.Invite.All User.Read.All User.ReadWrite.All Policy.Read.All";

fn invitation(email: &str) -> Value {
    json!({
        "invitedUserEmailAddress": email,
        "inviteRedirectUrl": format!("{APP_ORIGIN}/welcome"),
        "sendInvitationMessage": false,
    })
}

async fn member(world: &World, email: &str, roles: &[&str]) -> gatehouse::domain::user::User {
    gatehouse::services::admin::create_user(
        world.app.state.store.as_ref(),
        &world.app.state.passwords,
        UserInput {
            tenant: SLUG.into(),
            email: email.into(),
            name: email.into(),
            password: Some("a member's long password".into()),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn set_policy(world: &World, token: &str, patch: Value) {
    let (status, body) = world
        .call(
            Method::PATCH,
            "policies/externalCollaboration",
            Some(token),
            Some(patch),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn callers_without_a_valid_token_or_the_permission_are_refused() {
    let world = World::new().await;
    let body = invitation(GUEST);
    let (status, error) = world
        .call(Method::POST, "invitations", None, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "InvalidAuthenticationToken");
    let (status, _) = world.invite("not-a-token", body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A token of another tenant does not open this one.
    world.app.tenant("fabrikam").await;
    let other = world.app.service_app("fabrikam", "RS256").await;
    let response = world
        .app
        .token("fabrikam", &other, &[("grant_type", "client_credentials")])
        .await;
    let other_token: Value = response.json().await.unwrap();
    let (status, _) = world
        .invite(other_token["access_token"].as_str().unwrap(), body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An app of this tenant without User.Invite.All.
    let plain = world.app.service_app(SLUG, "RS256").await;
    let token = world.app_token(&plain).await;
    for (method, path) in [
        (Method::POST, "invitations"),
        (Method::GET, "invitations"),
        (Method::GET, "users"),
        (Method::GET, "auditLogs"),
        (Method::PATCH, "policies/externalCollaboration"),
    ] {
        let (status, error) = world
            .call(method.clone(), path, Some(&token), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error["error"]["code"], "Authorization_RequestDenied");
    }
    // A token asked for with a narrower scope holds only that: User.Read.All does not invite.
    let backend = &world.backend;
    let response = world
        .app
        .token(
            SLUG,
            backend,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "User.Read.All"),
            ],
        )
        .await;
    let narrow: Value = response.json().await.unwrap();
    let narrow = narrow["access_token"].as_str().unwrap();
    let (status, _) = world.invite(narrow, body.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a User.Read.All token cannot invite"
    );
    let (status, _) = world.call(Method::GET, "users", Some(narrow), None).await;
    assert_eq!(status, StatusCode::OK);
    // An unknown tenant is a Graph-style 404.
    let response = world
        .app
        .api()
        .get(format!("{}/nowhere/v1.0/users", world.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "Request_ResourceNotFound");
    // Malformed bodies say why.
    let backend = world.backend_token().await;
    let response = world
        .app
        .api()
        .post(world.api_url("invitations"))
        .bearer_auth(&backend)
        .header("content-type", "application/json")
        .body("{\"invitedUserEmailAddress\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, error) = world
        .invite(&backend, json!({ "invitedUserEmailAddress": GUEST, "inviteRedirectUrl": format!("{APP_ORIGIN}/"), "surprise": 1 }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("surprise")
    );
}

#[tokio::test]
async fn the_tenant_policy_roles_and_ownership_decide_who_invites() {
    let world = World::new().await;
    let backend = world.backend_token().await;
    member(&world, "mia@contoso.example", &[]).await;
    let inviter = member(&world, "ivan@contoso.example", &["Guest Inviter"]).await;
    let owner = member(&world, "olga@contoso.example", &[]).await;
    let (owned_app, _) = world
        .app
        .app(AppInput {
            tenant: SLUG.into(),
            name: "Owned".into(),
            redirect_uris: vec!["https://owned.contoso.example/cb".into()],
            owners: vec![owner.email.clone()],
            ..Default::default()
        })
        .await;
    assert!(!owned_app.is_empty());
    let password = "a member's long password";
    let mia = world
        .user_token("mia@contoso.example", password, ALL_SCOPES)
        .await;
    let ivan = world
        .user_token("ivan@contoso.example", password, ALL_SCOPES)
        .await;
    let olga = world
        .user_token("olga@contoso.example", password, ALL_SCOPES)
        .await;

    // Default (B.5): members and the invite roles may invite; the inviter becomes sponsor.
    let (status, created) = world.invite(&mia, invitation("a@fabrikam.example")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["invitedUser"]["sponsors"][0]["id"].is_string());
    // A plain member cannot read users (no role grants User.Read.All), whatever the scope.
    let (status, _) = world.call(Method::GET, "users", Some(&mia), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Admins and Guest Inviters only: the member is refused, the Guest Inviter is not.
    set_policy(
        &world,
        &backend,
        json!({ "allowInvitesFrom": "adminsAndGuestInviters" }),
    )
    .await;
    let (status, error) = world.invite(&mia, invitation("b@fabrikam.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, created) = world.invite(&ivan, invitation("b@fabrikam.example")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["invitedUser"]["sponsors"][0]["id"], inviter.id);
    // An app owner may invite to the app they own, not to others.
    let mut to_owned = invitation("c@fabrikam.example");
    to_owned["inviteRedirectUrl"] = json!("https://owned.contoso.example/start");
    let (status, body) = world.invite(&olga, to_owned).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = world.invite(&olga, invitation("d@fabrikam.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Only Global Administrators invite members.
    let mut as_member = invitation("e@fabrikam.example");
    as_member["invitedUserType"] = json!("Member");
    let (status, _) = world.invite(&ivan, as_member).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // None: nobody, not even administrators.
    set_policy(&world, &backend, json!({ "allowInvitesFrom": "none" })).await;
    let admin = world
        .user_token(crate::b2b::ADMIN, crate::b2b::ADMIN_PASSWORD, ALL_SCOPES)
        .await;
    let (status, _) = world.invite(&admin, invitation("f@fabrikam.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world.invite(&ivan, invitation("f@fabrikam.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A token without the delegated scope does not invite, whatever the role.
    set_policy(&world, &backend, json!({ "allowInvitesFrom": "everyone" })).await;
    let narrow = world
        .user_token("ivan@contoso.example", "a member's long password", "openid")
        .await;
    let (status, _) = world
        .invite(&narrow, invitation("g@fabrikam.example"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad policy values are refused with the reason.
    let (status, error) = world
        .call(
            Method::PATCH,
            "policies/externalCollaboration",
            Some(&backend),
            Some(json!({ "allowInvitesFrom": "anyone" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}

#[tokio::test]
async fn guests_get_least_privilege() {
    let world = World::new().await;
    let backend = world.backend_token().await;
    world.invite_to_app(&backend, GUEST).await;
    redeem(&world, &world.app.browser(), GUEST, 1).await;
    // The guest signs in to the same app with a mailed code and asks for every admin scope.
    let browser = world.app.browser();
    let pkce = crate::helpers::Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), ALL_SCOPES, &pkce, &[]);
    let (_, html) = browser.open_login(&url).await;
    // A passcode-only guest gets the code as soon as the address is typed.
    let code_page = browser.submit_email(&html, GUEST).await;
    assert!(!code_page.contains("current-password"), "no password page");
    let code = world.smtp.wait_for(GUEST, 3).await.code();
    let back = submit(&browser, &code_page, &[("code", &code)]).await;
    let back = crate::helpers::location(&back).unwrap();
    let code = crate::helpers::query_param(&back, "code").unwrap();
    let tokens: Value = world
        .app
        .token(
            SLUG,
            &world.web,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", crate::b2b::CALLBACK),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let guest = tokens["access_token"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, "users"),
        (Method::GET, "invitations"),
        (Method::GET, "auditLogs"),
        (Method::GET, "policies/externalCollaboration"),
    ] {
        let (status, _) = world.call(method.clone(), path, Some(guest), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let (status, _) = world.invite(guest, invitation("h@fabrikam.example")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "guests do not invite by default"
    );
    // Not even when guests may invite does a guest reach another tenant.
    world.app.tenant("fabrikam").await;
    let response = world
        .app
        .api()
        .post(format!("{}/fabrikam/v1.0/invitations", world.app.base))
        .bearer_auth(guest)
        .json(&invitation("h@fabrikam.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn redirect_urls_outside_the_tenants_apps_are_refused() {
    let world = World::new().await;
    let token = world.backend_token().await;
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "https://app.contoso.example.evil.com/",
        "https://app.contoso.example@evil.example/",
        "https://user:pw@app.contoso.example/",
        "http://app.contoso.example/",
        "https://app.contoso.example:8443/",
        "data:text/html,hi",
        "https://app.contoso.example/\\@evil.example",
        "",
    ] {
        let mut body = invitation(GUEST);
        body["inviteRedirectUrl"] = json!(evil);
        let (status, error) = world.invite(&token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{evil:?} must be refused");
        assert_eq!(error["error"]["code"], "Request_BadRequest", "{evil:?}");
    }
    // The app's origin (any path) and the tenant's My Apps page are fine.
    for good in [
        format!("{APP_ORIGIN}/deep/page?x=1"),
        format!("{}/myapps", world.issuer()),
    ] {
        let mut body = invitation(GUEST);
        body["inviteRedirectUrl"] = json!(good);
        let (status, created) = world.invite(&token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{good}: {created}");
    }
}

#[tokio::test]
async fn messages_with_links_and_addresses_with_disallowed_characters_are_refused() {
    let world = World::new().await;
    let token = world.backend_token().await;
    for message in [
        "<a href=\"https://evil.example\">review</a>",
        "Please log in at https://evil.example/login",
        "see www.evil.example",
        &"x".repeat(2001),
    ] {
        let mut body = invitation(GUEST);
        body["invitedUserMessageInfo"] = json!({ "customizedMessageBody": message });
        let (status, error) = world.invite(&token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message:?}: {error}");
    }
    let mut two_cc = invitation(GUEST);
    two_cc["invitedUserMessageInfo"] = json!({ "ccRecipients": [
        { "emailAddress": { "address": "a@contoso.example" } },
        { "emailAddress": { "address": "b@contoso.example" } }
    ]});
    let (status, _) = world.invite(&token, two_cc).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "one ccRecipient at most");
    for address in [
        "a b@fabrikam.example",
        "a<b@fabrikam.example",
        "a!b@fabrikam.example",
        "a(b)@fabrikam.example",
        "a,b@fabrikam.example",
        ".grace@fabrikam.example",
        "grace-@fabrikam.example",
        "grace@@fabrikam.example",
        "grace",
        "",
    ] {
        let (status, _) = world.invite(&token, invitation(address)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{address:?}");
    }
    for address in ["grace_o@fabrikam.example", "grace.o-k@fabrikam.example"] {
        let (status, body) = world.invite(&token, invitation(address)).await;
        assert_eq!(status, StatusCode::CREATED, "{address}: {body}");
    }
    // A display name with markup is kept as text and escaped where it is shown.
    let mut marked = invitation("mark@fabrikam.example");
    marked["invitedUserDisplayName"] = json!("<script>alert(1)</script>");
    marked["sendInvitationMessage"] = json!(true);
    let (status, created) = world.invite(&token, marked).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        created["invitedUserDisplayName"],
        "<script>alert(1)</script>"
    );
    let mail = world.smtp.wait_for("mark@fabrikam.example", 1).await;
    assert!(!mail.part("text/html").contains("<script>"));
}

#[tokio::test]
async fn domain_lists_are_checked_at_invitation_and_again_at_redemption() {
    let world = World::new().await;
    let token = world.backend_token().await;
    set_policy(
        &world,
        &token,
        json!({ "blockedDomains": ["evil.example"] }),
    )
    .await;
    let (status, error) = world.invite(&token, invitation("eve@evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, _) = world.invite(&token, invitation("eve@EVIL.example")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "domains compare case-insensitively"
    );
    let mut body = invitation(GUEST);
    body["sendInvitationMessage"] = json!(true);
    let (status, _) = world.invite(&token, body).await;
    assert_eq!(status, StatusCode::CREATED);
    // The partner's domain is blocked after the invitation went out: the link stops working.
    set_policy(
        &world,
        &token,
        json!({ "blockedDomains": [], "allowedDomains": ["partner.example"] }),
    )
    .await;
    let mail = world.smtp.wait_for(GUEST, 1).await;
    let link = mail.link(&format!("{}/redeem?i=", world.issuer()));
    let response = world.app.browser().get(&link).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, _) = world.invite(&token, invitation("x@fabrikam.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not on the allow-list");
    let (status, _) = world.invite(&token, invitation("x@partner.example")).await;
    assert_eq!(status, StatusCode::CREATED);
    // Both lists at once are refused.
    let (status, _) = world
        .call(
            Method::PATCH,
            "policies/externalCollaboration",
            Some(&token),
            Some(json!({ "blockedDomains": ["a.example"], "allowedDomains": ["b.example"] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, settings) = world
        .call(
            Method::GET,
            "policies/externalCollaboration",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(settings["allowedDomains"], json!(["partner.example"]));
}

#[tokio::test]
async fn the_code_sign_in_reveals_nothing_about_who_has_an_account() {
    let world = World::new().await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, GUEST).await;
    redeem(&world, &world.app.browser(), GUEST, 1).await;
    let pages = futures::future::join_all(
        [GUEST, "nobody@fabrikam.example", crate::b2b::ADMIN].map(|email| {
            let world = &world;
            async move {
                let browser = world.app.browser();
                let pkce = crate::helpers::Pkce::new();
                let url = world
                    .web
                    .authorize_url(&world.issuer(), "openid", &pkce, &[]);
                let (_, html) = browser.open_login(&url).await;
                let password_page = browser.submit_email(&html, email).await;
                let response = submit(&browser, &password_page, &[("action", "send_code")]).await;
                let status = response.status();
                let page = follow(&browser, response).await;
                (status, page.replace(email, "EMAIL"))
            }
        }),
    )
    .await;
    let strip = |page: &str| {
        // Transaction ids and CSRF tokens differ per page; compare the rest.
        page.lines()
            .filter(|l| {
                !l.contains("name=\"tx\"") && !l.contains("name=\"csrf\"") && !l.contains("?tx=")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        pages
            .windows(2)
            .all(|w| w[0].0 == w[1].0 && strip(&w[0].1) == strip(&w[1].1))
    );
    // Only the redeemed guest got codes (members sign in with their password): the
    // invitation, the redemption's code, the code sent as soon as the guest typed the address
    // (a passcode-only guest is never shown a password page) and the one asked for again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(world.smtp.mails_to(GUEST).len(), 4);
    assert!(world.smtp.mails_to("nobody@fabrikam.example").is_empty());
}

/// Every item of a collection, following `@odata.nextLink` unchanged until it is absent;
/// returns the items and the number of pages.
async fn all_pages(world: &World, token: &str, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(world.api_url(first));
    while let Some(url) = next {
        let response = world
            .app
            .api()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let body: Value = response.json().await.unwrap();
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        pages += 1;
        assert!(pages < 100, "the links end");
    }
    (items, pages)
}

#[tokio::test]
async fn every_list_pages_the_graph_way_and_never_ends_silently() {
    let world = World::new().await;
    let token = world.backend_token().await;
    // 150 members (more than the default page of 100) and five invitations.
    for n in 0..150 {
        gatehouse::services::admin::create_user(
            world.app.state.store.as_ref(),
            &world.app.state.passwords,
            UserInput {
                tenant: SLUG.into(),
                email: format!("m{n:03}@contoso.example"),
                name: format!("Member {n:03}"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    for n in 0..5 {
        let (status, _) = world
            .invite(&token, invitation(&format!("g{n}@fabrikam.example")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, first) = world.call(Method::GET, "users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        first["value"].as_array().unwrap().len(),
        100,
        "Graph's default page"
    );
    let next = first["@odata.nextLink"]
        .as_str()
        .expect("more exist: a next link");
    assert!(next.contains("$skiptoken="), "{next}");
    // Following the links gives every user exactly once, in a stable order.
    let (users, pages) = all_pages(&world, &token, "users").await;
    let total = 150 + 1 + 5; // members, the admin, the invited guests
    assert_eq!(users.len(), total);
    assert_eq!(pages, 2);
    let mut ids: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "no user twice");
    let (small, pages) = all_pages(
        &world,
        &token,
        "users?$top=40&$filter=userType%20eq%20'Member'",
    )
    .await;
    assert_eq!(
        (small.len(), pages),
        (151, 4),
        "$top and $filter carry over to the next links"
    );
    let (invitations, pages) = all_pages(&world, &token, "invitations?$top=2").await;
    assert_eq!((invitations.len(), pages), (5, 3));
    // Policies, partners, audit entries and sign-ins page the same way.
    let (audit, _) = all_pages(&world, &token, "auditLogs/directoryAudits?$top=3").await;
    assert!(audit.len() >= 5);
    // Bad paging is a Graph error, never a silent default.
    for bad in [
        "users?$top=0",
        "users?$top=1000",
        "users?$top=ten",
        "users?$skiptoken=forged",
    ] {
        let (status, body) = world.call(Method::GET, bad, Some(&token), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{bad}");
    }
}

#[tokio::test]
async fn graphs_own_policy_shapes_are_accepted_and_unenforceable_conditions_refused() {
    let world = World::new().await;
    let token = world.backend_token().await;
    // As Graph's documentation writes it (clientAppTypes is marked required there).
    let graph_example = json!({
        "displayName": "MFA for guests",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "clientAppTypes": ["all"],
            "locations": null,
            "applications": { "includeApplications": ["All"] },
            "users": { "includeUsers": ["GuestsOrExternalUsers"], "includeRoles": [] },
        },
        "grantControls": {
            "@odata.type": "#microsoft.graph.conditionalAccessGrantControls",
            "operator": "OR",
            "builtInControls": ["mfa"],
        },
    });
    let (status, created) = world
        .call(
            Method::POST,
            "identity/conditionalAccess/policies",
            Some(&token),
            Some(graph_example),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // What would be stored but only partly enforced is still refused, by name.
    let browser_only = json!({
        "displayName": "Browsers only",
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["browser"],
            "applications": { "includeApplications": ["All"] },
            "users": { "includeUsers": ["All"] },
        },
        "grantControls": { "operator": "OR", "builtInControls": ["mfa"] },
    });
    let (status, body) = world
        .call(
            Method::POST,
            "identity/conditionalAccess/policies",
            Some(&token),
            Some(browser_only),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clientAppTypes"),
        "{body}"
    );
    // A policy read back can be sent back as it is.
    let id = created["id"].as_str().unwrap();
    let (status, patched) = world
        .call(
            Method::PATCH,
            &format!("identity/conditionalAccess/policies/{id}"),
            Some(&token),
            Some(created.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{patched}");
}

#[tokio::test]
async fn every_error_leaves_in_the_format_of_its_front_door() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let api = world.app.api();
    // The admin API: Graph's envelope, with innerError, for a body too large, an unknown
    // path and a method not allowed.
    let huge = api
        .post(world.api_url("invitations"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        huge.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Request_EntityTooLarge", "{body}");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    for (method, path, status) in [
        (Method::GET, "nothingHere", StatusCode::NOT_FOUND),
        (Method::PUT, "invitations", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (got, body) = world.call(method, path, Some(&token), None).await;
        assert_eq!(got, status, "{path}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    // The token endpoint: OAuth JSON.
    let token_endpoint = api
        .post(format!("{}/oauth2/token", world.issuer()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(token_endpoint.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = token_endpoint.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // A person's browser: a page in the organisation's name.
    let page = world
        .app
        .browser()
        .get(&format!("{}/no-such-page", world.issuer()))
        .await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Page not found") && html.contains(&world.tenant.name),
        "{html}"
    );
}
