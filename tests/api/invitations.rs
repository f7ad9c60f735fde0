//! Invitations end to end (issue 4, SECURITY.md part H): invite over the admin API → the mail
//! arrives at a real SMTP listener → the link → the passcode mail → consent → the redirect →
//! the guest signs in to an OIDC app with guest claims; then what the admin API shows, and the
//! lifecycle (resend, revoke, reset, delete, block) with its audit trail.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{
    ADMIN, ADMIN_PASSWORD, APP_ORIGIN, World, follow, open_invitation, redeem, redeem_from_landing,
    sign_in_with_code, submit,
};
use crate::helpers::{location, verify_with_jwks};

const GUEST: &str = "grace@fabrikam.example";

fn activities(log: &Value) -> Vec<String> {
    log["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["activityDisplayName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_invited_guest_redeems_by_mail_and_signs_in_with_guest_claims() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (status, created) = world
        .invite(
            &token,
            json!({
                "invitedUserEmailAddress": GUEST,
                "invitedUserDisplayName": "Grace Guest",
                "inviteRedirectUrl": format!("{APP_ORIGIN}/welcome"),
                "sendInvitationMessage": true,
                "invitedUserMessageInfo": {
                    "ccRecipients": [{ "emailAddress": { "address": "pm@contoso.example", "name": "PM" } }],
                    "customizedMessageBody": "Welcome to the Q3 supplier review & co <b>",
                    "messageLanguage": "en-US"
                }
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let guest_id = created["invitedUser"]["id"].as_str().unwrap().to_owned();
    let redeem_url = created["inviteRedeemUrl"].as_str().unwrap().to_owned();
    assert!(redeem_url.starts_with(&format!("{}/redeem?i=", world.issuer())));
    assert_eq!(created["status"], "PendingAcceptance");
    assert_eq!(created["invitedUser"]["userType"], "Guest");
    assert_eq!(
        created["invitedUser"]["externalUserState"],
        "PendingAcceptance"
    );
    assert_eq!(created["invitedUser"]["creationType"], "Invitation");
    assert_eq!(
        created["invitedUser"]["userPrincipalName"],
        "grace_fabrikam.example#EXT#@contoso.example"
    );
    assert!(created["invitedUser"]["externalUserStateChangeDateTime"].is_string());
    assert!(created["expirationDateTime"].is_string());
    assert_eq!(
        created["invitedUserMessageInfo"]["messageLanguage"],
        "en-US"
    );
    assert_eq!(
        created["invitedUserMessageInfo"]["ccRecipients"][0]["emailAddress"]["address"],
        "pm@contoso.example"
    );
    // Graph's usual body (no ccRecipients) is accepted; the language reads back as en-US.
    let (status, plain) = world
        .invite(
            &token,
            json!({
                "invitedUserEmailAddress": "other@fabrikam.example",
                "inviteRedirectUrl": format!("{APP_ORIGIN}/"),
                "invitedUserMessageInfo": { "customizedMessageBody": "Hi" }
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["invitedUserMessageInfo"]["messageLanguage"], "en-US");
    assert_eq!(plain["sendInvitationMessage"], false);

    // The guest exists at once (an app invited, so there is no sponsor: sponsors are users).
    let (status, user) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["externalUserState"], "PendingAcceptance");
    assert_eq!(user["sponsors"], json!([]));

    // The mail: to the guest (and the one cc), with every element of B.2.
    let mail = world.smtp.wait_for(GUEST, 1).await;
    assert!(
        world
            .smtp
            .mails_to("pm@contoso.example")
            .iter()
            .any(|m| m.raw == mail.raw),
        "the cc recipient gets the same message"
    );
    assert!(mail.header("To").unwrap().contains(GUEST));
    // The subject names the organisation; an application invites as the organisation, never
    // as a person.
    assert_eq!(
        mail.header("Subject").unwrap(),
        "contoso Ltd invited you to access its applications"
    );
    assert!(!mail.text().contains("Partner onboarding of"));
    let text = mail.text();
    assert!(
        text.contains("Only accept invitations you expect"),
        "{text}"
    );
    assert!(text.contains("contoso Ltd"));
    assert!(text.contains("Welcome to the Q3 supplier review & co <b>"));
    assert!(text.contains(&format!("{APP_ORIGIN}/welcome")));
    assert!(text.contains("has not provided a privacy statement"));
    assert_eq!(
        mail.link(&format!("{}/redeem?i=", world.issuer())),
        redeem_url
    );
    assert!(text.contains(&format!("{}/invitations/block?b=", world.issuer())));
    let html = mail.part("text/html");
    assert!(html.contains("Welcome to the Q3 supplier review &amp; co &lt;b&gt;"));
    assert!(!html.contains("<b>"));

    // The link: who invited whom to what; no Referer leaks the token.
    let browser = world.app.browser();
    let response = browser.get(&redeem_url).await;
    let landing_url = location(&response).unwrap();
    let landing = browser.get(&landing_url).await;
    assert_eq!(landing.headers()["referrer-policy"], "same-origin");
    let landing = landing.text().await.unwrap();
    // An application invited: the page names the organisation, not the app as a person.
    assert!(landing.contains("contoso Ltd") && landing.contains(GUEST));
    assert!(!landing.contains("Partner onboarding"));
    assert!(
        landing.contains("app.contoso.example&#x2f;welcome"),
        "{landing}"
    );
    let done = redeem_from_landing(
        &world,
        &browser,
        &landing,
        GUEST,
        2,
        Some("guest's own password"),
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done).unwrap(), format!("{APP_ORIGIN}/welcome"));

    // Bound: accepted, with the mail identity; the invitation is completed.
    let (_, user) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(user["externalUserState"], "Accepted");
    assert_eq!(
        user["identities"],
        json!([{ "signInType": "emailAddress", "issuer": "mail", "issuerAssignedId": GUEST }])
    );
    let (_, invitation) = world
        .call(
            Method::GET,
            &format!("invitations/{}", created["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(invitation["status"], "Completed");
    assert!(invitation["redeemedDateTime"].is_string());

    // The guest signs in to the app with a mailed code: guest claims in a verified ID token.
    let tokens = sign_in_with_code(&world, GUEST, 3).await;
    let claims =
        verify_with_jwks(&world.app, "contoso", tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["tid"], world.tenant.id);
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["idp"], "mail");
    assert_eq!(claims["acct"], 1);
    assert_eq!(claims["upn"], "grace_fabrikam.example#EXT#@contoso.example");
    assert_eq!(claims["email"], GUEST);
    assert_eq!(claims["amr"], json!(["email"]));
    let access = verify_with_jwks(
        &world.app,
        "contoso",
        tokens["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(access["acct"], 1);
    assert_eq!(access["idp"], "mail");

    // The password the guest set works too; members get acct = 0 and no #EXT#.
    let tokens = world
        .app
        .sign_in_and_redeem(
            "contoso",
            &world.web,
            GUEST,
            "guest's own password",
            "openid",
        )
        .await;
    let claims =
        verify_with_jwks(&world.app, "contoso", tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["acct"], 1);
    let tokens = world
        .app
        .sign_in_and_redeem("contoso", &world.web, ADMIN, ADMIN_PASSWORD, "openid email")
        .await;
    let claims =
        verify_with_jwks(&world.app, "contoso", tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["acct"], 0);
    assert!(
        claims
            .get("idp")
            .is_none_or(|idp| !idp.as_str().unwrap().contains("mail"))
    );
    assert!(!claims.to_string().contains("#EXT#"));

    // The audit trail.
    let (status, log) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let seen = activities(&log);
    for activity in ["Invite external user", "Redeem external user invite"] {
        assert!(seen.iter().any(|a| a == activity), "{activity} in {seen:?}");
    }
}

#[tokio::test]
async fn used_revoked_superseded_and_unknown_links_get_one_identical_answer() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let first = world.invite_to_app(&token, GUEST).await;
    let used = first["inviteRedeemUrl"].as_str().unwrap().to_owned();
    let browser = world.app.browser();
    let done = redeem(&world, &browser, GUEST, 1).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    let other = "oscar@fabrikam.example";
    let revoked = world.invite_to_app(&token, other).await;
    let (status, body) = world
        .call(
            Method::POST,
            &format!("invitations/{}/revoke", revoked["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "Revoked");
    let revoked = revoked["inviteRedeemUrl"].as_str().unwrap().to_owned();

    // Re-inviting kills the earlier link; so does resending.
    let third = "tess@fabrikam.example";
    let superseded = world.invite_to_app(&token, third).await;
    let again = world.invite_to_app(&token, third).await;
    assert_eq!(again["invitedUser"]["id"], superseded["invitedUser"]["id"]);
    let (status, resent) = world
        .call(
            Method::POST,
            &format!("invitations/{}/resend", again["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{resent}");
    let live = resent["inviteRedeemUrl"].as_str().unwrap().to_owned();
    assert_ne!(live, again["inviteRedeemUrl"].as_str().unwrap());

    let unknown = format!(
        "{}/redeem?i=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        world.issuer()
    );
    // A guest who already redeemed and follows the link again is sent to sign in, as Entra
    // does: to where the invitation leads.
    let again_used = world.app.browser().get(&used).await;
    assert_eq!(again_used.status(), StatusCode::SEE_OTHER, "used");
    assert_eq!(
        location(&again_used).as_deref(),
        first["inviteRedirectUrl"].as_str()
    );
    let cases = [
        ("revoked", revoked),
        (
            "superseded",
            superseded["inviteRedeemUrl"].as_str().unwrap().to_owned(),
        ),
        (
            "resent over",
            again["inviteRedeemUrl"].as_str().unwrap().to_owned(),
        ),
        ("unknown", unknown),
        ("empty", format!("{}/redeem", world.issuer())),
        (
            "oversized",
            format!("{}/redeem?i={}", world.issuer(), "A".repeat(5000)),
        ),
    ];
    let mut answers = Vec::new();
    for (case, link) in &cases {
        let response = world.app.browser().get(link).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}");
        assert!(
            body.contains("This invitation link cannot be used"),
            "{case}: {body}"
        );
        assert!(!body.contains("fabrikam"), "{case}: the page names no one");
        answers.push((status, body));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every invalid link gets the same status and page"
    );
    // The live link still works.
    let landing = open_invitation(&world.app.browser(), &live).await;
    assert!(landing.contains(third));
}

#[tokio::test]
async fn twenty_parallel_redemptions_of_one_link_bind_exactly_once() {
    let world = World::with(|config| {
        config.throttle.passcode_sends_per_address = 100;
        config.throttle.passcode_sends_per_ip = 100;
    })
    .await;
    let token = world.backend_token().await;
    let created = world.invite_to_app(&token, GUEST).await;
    let link = created["inviteRedeemUrl"].as_str().unwrap().to_owned();
    world.smtp.wait_for(GUEST, 1).await;
    // Twenty browsers each reach the consent page of the same invitation (each with its own
    // passcode: a new code voids the last, so they get them one after another).
    let mut at_consent = Vec::new();
    for n in 0..20 {
        let browser = world.app.browser();
        let landing = open_invitation(&browser, &link).await;
        let code_page = follow(&browser, submit(&browser, &landing, &[]).await).await;
        let code = world.smtp.wait_for(GUEST, n + 2).await.code();
        let password_page = follow(
            &browser,
            submit(&browser, &code_page, &[("code", &code)]).await,
        )
        .await;
        let consent = follow(
            &browser,
            submit(&browser, &password_page, &[("action", "skip_password")]).await,
        )
        .await;
        at_consent.push((browser, consent));
    }
    let outcomes =
        futures::future::join_all(at_consent.iter().map(|(browser, consent)| async move {
            let response = submit(browser, consent, &[("decision", "allow")]).await;
            let status = response.status();
            let target = location(&response);
            let body = response.text().await.unwrap();
            (status, target, body)
        }))
        .await;
    let bound: Vec<_> = outcomes
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::SEE_OTHER)
        .collect();
    assert_eq!(bound.len(), 1, "exactly one redemption binds");
    assert_eq!(
        bound[0].1.as_deref(),
        Some(format!("{APP_ORIGIN}/welcome").as_str())
    );
    for (status, _, body) in outcomes
        .iter()
        .filter(|(s, _, _)| *s != StatusCode::SEE_OTHER)
    {
        assert_eq!(*status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("This invitation link cannot be used"),
            "{body}"
        );
    }
    let (_, user) = world
        .call(
            Method::GET,
            &format!("users/{}", created["invitedUser"]["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(user["identities"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_code_goes_only_to_the_invited_address_and_wrong_guesses_void_it() {
    let world = World::new().await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, GUEST).await;
    let mail = world.smtp.wait_for(GUEST, 1).await;
    let link = mail.link(&format!("{}/redeem?i=", world.issuer()));
    let browser = world.app.browser();
    let landing = open_invitation(&browser, &link).await;
    // A forged address in the form changes nothing: the code goes to the invited address.
    let code_page = follow(
        &browser,
        submit(&browser, &landing, &[("email", "mallory@evil.example")]).await,
    )
    .await;
    let code = world.smtp.wait_for(GUEST, 2).await.code();
    assert!(world.smtp.mails_to("mallory@evil.example").is_empty());
    // Five wrong codes void it: the right one is then refused.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut page = code_page;
    for attempt in 1..=5 {
        let response = submit(&browser, &page, &[("code", wrong)]).await;
        let (status, next) = browser.refused_page(response).await;
        assert_eq!(status, StatusCode::OK);
        page = next;
        if attempt < 5 {
            assert!(page.contains("not right or has expired"), "{page}");
        } else {
            assert!(
                page.contains("no longer works") && page.contains("Send a new code"),
                "the fifth wrong code voids it, and the page says so: {page}"
            );
        }
    }
    let response = submit(&browser, &page, &[("code", &code)]).await;
    let (_, page) = browser.refused_page(response).await;
    assert!(
        page.contains("no longer works"),
        "the voided code is refused: {page}"
    );
    // A new code voids the old one; the new one works once.
    let resent = follow(
        &browser,
        submit(&browser, &page, &[("action", "resend")]).await,
    )
    .await;
    let fresh = world.smtp.wait_for(GUEST, 3).await.code();
    if fresh != code {
        let response = submit(&browser, &resent, &[("code", &code)]).await;
        let (_, page) = browser.refused_page(response).await;
        assert!(page.contains("not right"), "an older code is void");
    }
    let response = submit(&browser, &resent, &[("code", &fresh)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_browser_signed_in_as_someone_else_is_asked_and_never_bound_silently() {
    let world = World::new().await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, GUEST).await;
    let browser = world.app.browser();
    // The administrator is signed in on this browser.
    let pkce = crate::helpers::Pkce::new();
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &pkce, &[]);
    browser.sign_in(&url, ADMIN, ADMIN_PASSWORD).await;
    let mail = world.smtp.wait_for(GUEST, 1).await;
    let landing = open_invitation(
        &browser,
        &mail.link(&format!("{}/redeem?i=", world.issuer())),
    )
    .await;
    assert!(
        landing.contains(&format!("signed in to contoso Ltd as {ADMIN}")),
        "{landing}"
    );
    assert!(landing.contains(&format!("Accept invitation as {GUEST}")));
    let done = redeem_from_landing(&world, &browser, &landing, GUEST, 2, None).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    // The browser's session is now the guest's, not the administrator's.
    let silent = browser
        .get(
            &world
                .web
                .authorize_url(&world.issuer(), "openid", &pkce, &[("prompt", "none")]),
        )
        .await;
    let back = location(&silent).unwrap();
    let code = crate::helpers::query_param(&back, "code").expect("a silent code");
    let tokens: Value = world
        .app
        .token(
            "contoso",
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
    let claims =
        verify_with_jwks(&world.app, "contoso", tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["acct"], 1, "the guest, not the administrator");
}

#[tokio::test]
async fn reset_redemption_keeps_the_object_groups_and_assignments_and_rebinds() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let group = gatehouse::services::admin::create_group(
        world.app.state.store.as_ref(),
        gatehouse::services::admin::GroupInput {
            tenant: "contoso".into(),
            name: "Suppliers".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (status, created) = world
        .invite(
            &token,
            json!({
                "invitedUserEmailAddress": GUEST,
                "inviteRedirectUrl": format!("{APP_ORIGIN}/welcome"),
                "sendInvitationMessage": true,
                "groupIds": [group.id],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let guest_id = created["invitedUser"]["id"].as_str().unwrap().to_owned();
    redeem(&world, &world.app.browser(), GUEST, 1).await;
    // Inviting a redeemed guest again answers as Graph does: 201, the same guest, the
    // invitation Completed, and the mail again (its link leads to sign-in, not a new binding).
    let (status, again) = world.invite_to_app_raw(&token, GUEST, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["status"], "Completed");
    assert_eq!(again["invitedUser"]["id"], guest_id);
    let (_, user) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(user["externalUserState"], "Accepted", "nothing was unbound");
    let resent = world.smtp.wait_for(GUEST, 3).await;
    let link = resent.link(&format!("{}/redeem?i=", world.issuer()));
    let followed = world.app.browser().get(&link).await;
    assert_eq!(followed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::location(&followed).unwrap(),
        format!("{APP_ORIGIN}/welcome"),
        "the link of a Completed invitation leads to the app, to sign in"
    );
    // Re-binding the guest to a new identity needs resetRedemption, the user id and a right.
    let (status, reset) = world
        .invite_to_app_raw(
            &token,
            GUEST,
            json!({ "resetRedemption": true, "invitedUser": { "id": guest_id } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reset}");
    assert_eq!(
        reset["invitedUser"]["id"], guest_id,
        "the object id is kept"
    );
    assert_eq!(reset["resetRedemption"], true);
    let (_, user) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(user["externalUserState"], "PendingAcceptance");
    assert_eq!(user["identities"], json!([]), "the old identity is unbound");
    let members = world
        .app
        .state
        .store
        .groups_of_user(&guest_id)
        .await
        .unwrap();
    assert!(members.contains(&group.id), "group membership kept");
    // The new link binds again; the old mailbox identity is back.
    let done = redeem(&world, &world.app.browser(), GUEST, 4).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (_, user) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(user["externalUserState"], "Accepted");
    let (_, log) = world
        .call(Method::GET, "auditLogs", Some(&token), None)
        .await;
    assert!(
        activities(&log)
            .iter()
            .any(|a| a == "Invite external user with reset invitation status")
    );
}

#[tokio::test]
async fn deleting_a_guest_kills_its_invitations_and_members_are_deleted_too() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let created = world.invite_to_app(&token, GUEST).await;
    let guest_id = created["invitedUser"]["id"].as_str().unwrap();
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let response = world
        .app
        .browser()
        .get(created["inviteRedeemUrl"].as_str().unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, _) = world
        .call(
            Method::GET,
            &format!("users/{guest_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Members too (issue 16); only a caller's own account is refused (users_admin).
    let (status, body) = world
        .call(
            Method::DELETE,
            &format!("users/{}", world.admin.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn the_block_link_stops_further_invitation_mail_and_is_audited() {
    let world = World::new().await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, GUEST).await;
    let mail = world.smtp.wait_for(GUEST, 1).await;
    let block = mail.link(&format!("{}/invitations/block?b=", world.issuer()));
    let browser = world.app.browser();
    let page = browser.get(&block).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    let page = page.text().await.unwrap();
    let response = submit(&browser, &page, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Another invitation is created (the guest object is there) but no mail goes out.
    let (status, _) = world.invite_to_app_raw(&token, GUEST, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    world
        .app
        .state
        .mailer
        .send_due(world.app.state.store.as_ref())
        .await
        .unwrap();
    assert_eq!(
        world.smtp.mails_to(GUEST).len(),
        1,
        "no second invitation mail"
    );
    let (_, log) = world
        .call(Method::GET, "auditLogs", Some(&token), None)
        .await;
    let seen = activities(&log);
    assert!(seen.iter().any(|a| a == "Email unsubscribed"), "{seen:?}");
    assert!(
        seen.iter()
            .any(|a| a == "Email not sent, user unsubscribed"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn nothing_is_lost_while_the_smtp_server_is_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let world = World::with(|config| {
        config.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, GUEST).await;
    // The first attempt fails (nothing listens); the message stays in the outbox.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(world.app.state.store.unsent_mail_count().await.unwrap(), 1);
    let sink = crate::smtp::SmtpSink::start_on(port).await;
    let mail = sink.wait_for(GUEST, 1).await;
    assert!(mail.text().contains("/redeem?i="));
    for _ in 0..50 {
        if world.app.state.store.unsent_mail_count().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the delivered message is still unsent");
}

#[tokio::test]
async fn invitations_are_listed_and_filtered_by_status() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let a = world.invite_to_app(&token, GUEST).await;
    let b = world.invite_to_app(&token, "oscar@fabrikam.example").await;
    world
        .call(
            Method::POST,
            &format!("invitations/{}/revoke", b["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    let ids = |body: &Value| -> Vec<String> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = world
        .call(Method::GET, "invitations", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all).len(), 2);
    assert!(
        all["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["inviteRedeemUrl"].is_null()),
        "links are shown once, at creation"
    );
    let (_, pending) = world
        .call(
            Method::GET,
            "invitations?$filter=status%20eq%20'PendingAcceptance'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ids(&pending), vec![a["id"].as_str().unwrap().to_owned()]);
    let (_, revoked) = world
        .call(
            Method::GET,
            "invitations?$filter=status%20eq%20'Revoked'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ids(&revoked), vec![b["id"].as_str().unwrap().to_owned()]);
    let (status, body) = world
        .call(
            Method::GET,
            "invitations?$filter=status%20eq%20'Nope'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    let (status, guests) = world
        .call(
            Method::GET,
            "users?$filter=userType%20eq%20'Guest'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(guests["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_openapi_document_describes_the_admin_api() {
    let world = World::new().await;
    let response = world
        .app
        .api()
        .get(format!("{}/openapi.json", world.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/{tenant}/v1.0/invitations",
        "/{tenant}/v1.0/invitations/bulk",
        "/{tenant}/v1.0/users/{id}",
        "/{tenant}/v1.0/organization/branding/bannerLogo",
    ] {
        assert!(paths.contains_key(path), "{path} in {:?}", paths.keys());
    }
    // Every response says what it means (OpenAPI requires a description).
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, answer) in operation["responses"].as_object().unwrap() {
                assert!(
                    answer["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
    // The document and the router are one: every documented operation is served (a
    // request without a token is refused by the handler, never 404/405 by the router).
    for (path, operations) in paths {
        let url = format!(
            "{}{}",
            world.app.base,
            path.replace("{tenant}", crate::b2b::SLUG)
                .replace("{id}", "x")
                .replace("{method}", "x")
        );
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = world
                .app
                .api()
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {url}");
        }
    }
}

impl World {
    /// `POST /invitations` to the web app for `email` with `extra` fields merged in.
    async fn invite_to_app_raw(
        &self,
        token: &str,
        email: &str,
        extra: Value,
    ) -> (StatusCode, Value) {
        let mut body = json!({
            "invitedUserEmailAddress": email,
            "inviteRedirectUrl": format!("{APP_ORIGIN}/welcome"),
            "sendInvitationMessage": true,
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        self.invite(token, body).await
    }
}
