//! The claims apps authorise on, in real tokens and assertions: `roles` held directly or
//! through a group, `groups` per `groupMembershipClaims` with Entra's overage beyond 200 (JWT)
//! and 150 (SAML), optional claims per token kind, per-app token lifetimes (and what
//! introspection says of them), and the next token changing when membership or assignments do.

use gatehouse::domain::app_profile::{
    AppProfile, GroupMembershipClaims, OptionalClaims, TokenLifetimes,
};
use gatehouse::domain::group::Group;
use gatehouse::services::admin::assignments::{Assignee, assign_role};
use gatehouse::services::admin::{AppInput, GroupInput, SamlInput};
use reqwest::StatusCode;
use serde_json::Value;

use crate::assignments::{SLUG, roles};
use crate::helpers::{Client, Pkce, TestApp, jwt_parts, query_param};

const CALLBACK: &str = "https://rp.example/cb";
const ANN: &str = "ann@contoso.example";
const PASSWORD: &str = "a long enough password";

/// A node with tenant contoso and Ann.
async fn node() -> TestApp {
    let app = TestApp::spawn().await;
    app.tenant(SLUG).await;
    app.user(SLUG, ANN, PASSWORD).await;
    app
}

/// A web app (code + refresh) with `profile`.
async fn rp(app: &TestApp, name: &str, profile: AppProfile) -> Client {
    let (client_id, secret) = app
        .app(AppInput {
            tenant: SLUG.into(),
            name: name.into(),
            redirect_uris: vec![CALLBACK.into()],
            profile,
            ..Default::default()
        })
        .await;
    Client {
        client_id,
        secret,
        redirect_uri: CALLBACK.into(),
    }
}

/// A group of Ann (and nobody else).
async fn group(app: &TestApp, name: &str) -> Group {
    group_of_kind(app, name, true).await
}

/// A security group (or, with `security` false, another kind of group) with Ann in it.
async fn group_of_kind(app: &TestApp, name: &str, security: bool) -> Group {
    gatehouse::services::admin::create_group(
        app.state.store.as_ref(),
        GroupInput {
            tenant: SLUG.into(),
            name: name.into(),
            members: vec![ANN.into()],
            security_enabled: security,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Ann signs in to `client`; the token response.
async fn sign_in(app: &TestApp, client: &Client) -> Value {
    let pkce = Pkce::new();
    let url = client.authorize_url(&app.issuer(SLUG), "openid offline_access", &pkce, &[]);
    let back = app.browser().sign_in(&url, ANN, PASSWORD).await;
    let code = query_param(&back, "code").expect("a code");
    let response = app
        .token(
            SLUG,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The next tokens from a refresh.
async fn refresh(app: &TestApp, client: &Client, tokens: &Value) -> Value {
    let response = app
        .token(
            SLUG,
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The claims of the ID token and of the access token.
fn claims(tokens: &Value) -> (Value, Value) {
    (
        jwt_parts(tokens["id_token"].as_str().unwrap()).1,
        jwt_parts(tokens["access_token"].as_str().unwrap()).1,
    )
}

async fn give(app: &TestApp, client: &Client, assignee: Assignee, role: &str) {
    assign_role(
        app.state.store.as_ref(),
        SLUG,
        &client.client_id,
        &assignee,
        Some(role),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn roles_held_directly_or_through_a_group_change_at_the_next_token() {
    let app = node().await;
    let client = rp(
        &app,
        "Expenses",
        AppProfile {
            app_roles: roles(),
            group_membership_claims: GroupMembershipClaims::All,
            ..AppProfile::default()
        },
    )
    .await;
    let approvers = group(&app, "Approvers").await;
    give(&app, &client, Assignee::User(ANN.into()), "Reader").await;
    give(
        &app,
        &client,
        Assignee::Group(approvers.id.clone()),
        "Approver",
    )
    .await;
    let first = sign_in(&app, &client).await;
    let (id, access) = claims(&first);
    for token in [&id, &access] {
        assert_eq!(
            token["roles"],
            serde_json::json!(["Approver", "Reader"]),
            "{token}"
        );
        assert_eq!(
            token["groups"],
            serde_json::json!([approvers.id]),
            "{token}"
        );
    }
    // A new group of Ann's with a role shows in the next token, at refresh.
    let auditors = group(&app, "Auditors").await;
    let store = app.state.store.as_ref();
    let mut both = vec![approvers.id.clone(), auditors.id.clone()];
    both.sort();
    let next = refresh(&app, &client, &first).await;
    let (id, _) = claims(&next);
    assert_eq!(id["groups"], serde_json::json!(both), "{id}");
    // The group's assignment removed: Approver goes at the next refresh.
    let assignment = store
        .assignments_of_principal(&approvers.tenant_id, &approvers.id)
        .await
        .unwrap()
        .remove(0);
    store
        .delete_assignment(&approvers.tenant_id, &assignment.id)
        .await
        .unwrap();
    let last = refresh(&app, &client, &next).await;
    let (id, access) = claims(&last);
    assert_eq!(id["roles"], serde_json::json!(["Reader"]));
    assert_eq!(access["roles"], serde_json::json!(["Reader"]));
}

#[tokio::test]
async fn groups_follow_the_apps_setting() {
    let app = node().await;
    let assigned = group(&app, "Assigned").await;
    let other = group_of_kind(&app, "Other", false).await;
    let mut every = vec![assigned.id.clone(), other.id.clone()];
    every.sort();
    for (setting, expected) in [
        (GroupMembershipClaims::All, Some(every.clone())),
        // "Other" is not a security group.
        (
            GroupMembershipClaims::SecurityGroup,
            Some(vec![assigned.id.clone()]),
        ),
        (
            GroupMembershipClaims::ApplicationGroup,
            Some(vec![assigned.id.clone()]),
        ),
        (GroupMembershipClaims::None, None),
    ] {
        let client = rp(
            &app,
            setting.as_str(),
            AppProfile {
                group_membership_claims: setting,
                ..AppProfile::default()
            },
        )
        .await;
        gatehouse::services::admin::assignments::assign(
            app.state.store.as_ref(),
            SLUG,
            &client.client_id,
            &Assignee::Group(assigned.id.clone()),
        )
        .await
        .unwrap();
        let (id, access) = claims(&sign_in(&app, &client).await);
        for token in [id, access] {
            match &expected {
                Some(groups) => {
                    assert_eq!(token["groups"], serde_json::json!(groups), "{setting:?}")
                }
                None => assert!(token.get("groups").is_none(), "{setting:?}: {token}"),
            }
            assert!(token.get("roles").is_none(), "no roles defined: {token}");
        }
    }
}

#[tokio::test]
async fn more_than_200_groups_become_an_overage_link_in_jwts() {
    let app = node().await;
    let ann = app
        .state
        .store
        .user_by_email(
            &app.state.store.tenant_by_slug(SLUG).await.unwrap().id,
            "ann@contoso.example",
        )
        .await
        .unwrap();
    // Seeded through the group service, whatever the group's other properties are.
    for n in 0..201 {
        group(&app, &format!("Group {n}")).await;
    }
    let client = rp(
        &app,
        "Big",
        AppProfile {
            group_membership_claims: GroupMembershipClaims::All,
            ..AppProfile::default()
        },
    )
    .await;
    let (id, access) = claims(&sign_in(&app, &client).await);
    let link = format!(
        "{}/v1.0/users/{}/transitiveMemberOf",
        app.issuer(SLUG),
        ann.id
    );
    for token in [id, access] {
        assert!(token.get("groups").is_none());
        assert_eq!(token["_claim_names"]["groups"], "src1");
        assert_eq!(token["_claim_sources"]["src1"]["endpoint"], link.as_str());
    }
}

#[tokio::test]
async fn optional_claims_are_added_per_token_kind() {
    let app = node().await;
    let client = rp(
        &app,
        "Claims",
        AppProfile {
            optional_claims: OptionalClaims {
                id_token: vec!["upn".into(), "email".into(), "acct".into()],
                access_token: vec!["email".into(), "ipaddr".into()],
                saml2_token: vec![],
            },
            ..AppProfile::default()
        },
    )
    .await;
    let plain = rp(&app, "Plain", AppProfile::default()).await;
    let first = sign_in(&app, &client).await;
    let (id, access) = claims(&first);
    assert_eq!(id["upn"], ANN, "{id}");
    assert_eq!(id["email"], ANN);
    assert_eq!(id["acct"], 0);
    assert_eq!(access["email"], ANN);
    assert!(access.get("upn").is_none(), "{access}");
    // The address Ann signed in from (this test's browser, on loopback), also after a
    // refresh made from elsewhere: it is the sign-in's, kept with the grant.
    assert_eq!(access["ipaddr"], "127.0.0.1", "{access}");
    assert!(id.get("ipaddr").is_none(), "{id}");
    let (_, refreshed) = claims(&refresh(&app, &client, &first).await);
    assert_eq!(refreshed["ipaddr"], "127.0.0.1", "{refreshed}");
    // A member's tokens carry neither without asking (the openid scope alone).
    let (id, access) = claims(&sign_in(&app, &plain).await);
    assert!(id.get("upn").is_none() && id.get("email").is_none(), "{id}");
    assert!(access.get("email").is_none());
}

#[tokio::test]
async fn per_app_lifetimes_set_exp_and_introspection_agrees() {
    let app = node().await;
    let client = rp(
        &app,
        "Short",
        AppProfile {
            token_lifetimes: TokenLifetimes {
                access_token_secs: Some(600),
                id_token_secs: Some(1200),
            },
            ..AppProfile::default()
        },
    )
    .await;
    let tokens = sign_in(&app, &client).await;
    assert_eq!(tokens["expires_in"], 600);
    let (id, access) = claims(&tokens);
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        1200
    );
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        600
    );
    let discovery = app.discovery(SLUG).await;
    let answer: Value = app
        .api()
        .post(discovery["introspection_endpoint"].as_str().unwrap())
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["exp"], access["exp"]);
    // The refreshed pair keeps the app's lifetimes.
    let next = refresh(&app, &client, &tokens).await;
    assert_eq!(next["expires_in"], 600);
}

/// A SAML app with the test roles, every group in its claims and the `upn` SAML claim.
async fn saml_app(app: &TestApp) -> String {
    let (client_id, _) = app
        .app(AppInput {
            tenant: SLUG.into(),
            name: "Ledger".into(),
            saml: Some(SamlInput {
                entity_id: Some("https://sp.example/metadata".into()),
                acs_urls: vec!["https://sp.example/acs".into()],
                ..SamlInput::default()
            }),
            profile: AppProfile {
                app_roles: roles(),
                group_membership_claims: GroupMembershipClaims::All,
                optional_claims: OptionalClaims {
                    saml2_token: vec!["upn".into()],
                    ..OptionalClaims::default()
                },
                ..AppProfile::default()
            },
            ..Default::default()
        })
        .await;
    client_id
}

#[tokio::test]
async fn saml_assertions_carry_roles_groups_acct_and_the_overage_link() {
    let app = node().await;
    let client_id = saml_app(&app).await;
    let approvers = group(&app, "Approvers").await;
    let client = Client {
        client_id: client_id.clone(),
        secret: None,
        redirect_uri: String::new(),
    };
    give(
        &app,
        &client,
        Assignee::Group(approvers.id.clone()),
        "Approver",
    )
    .await;
    let assertion = crate::saml::launched_assertion(&app, SLUG, &client_id, ANN, PASSWORD).await;
    let attribute = |name: &str| {
        crate::saml::attribute(&assertion, name)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        attribute("http://schemas.microsoft.com/ws/2008/06/identity/claims/role"),
        ["Approver"]
    );
    assert_eq!(
        attribute("http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"),
        std::slice::from_ref(&approvers.id)
    );
    assert_eq!(
        attribute("http://schemas.microsoft.com/identity/claims/acct"),
        ["0"]
    );
    assert_eq!(
        attribute("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"),
        [ANN]
    );
    // Beyond 150 groups: the link instead of the list.
    for n in 0..150 {
        group(&app, &format!("Team {n}")).await;
    }
    let assertion = crate::saml::launched_assertion(&app, SLUG, &client_id, ANN, PASSWORD).await;
    assert!(
        crate::saml::attribute(
            &assertion,
            "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
        )
        .is_empty()
    );
    let link = crate::saml::attribute(
        &assertion,
        "http://schemas.microsoft.com/claims/groups.link",
    );
    assert_eq!(link.len(), 1);
    assert!(
        link[0].starts_with(&format!("{}/v1.0/users/", app.issuer(SLUG)))
            && link[0].ends_with("/transitiveMemberOf"),
        "{link:?}"
    );
}
