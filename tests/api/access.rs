//! Selective access (SECURITY.md "learned from trying it": assignment required is checked on
//! every path that mints a token): an application that requires assignment admits only users
//! assigned to it directly or through a group — at authorize whatever the prompt, at the code
//! exchange and at every refresh — answering `access_denied` / `invalid_grant` as Entra does
//! (50105), with a sign-in log row.

use gatehouse::services::admin::AppInput;
use gatehouse::services::admin::assignments::{Assignee, assign, unassign};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Client, Pkce, TestApp, location, query_param};

const PASSWORD: &str = "a long enough password";
const CALLBACK: &str = "https://payroll.example/cb";

/// A tenant with an app that requires assignment; returns (node, client, payroll's app id).
async fn setup() -> (TestApp, Client) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    for email in [
        "ann@contoso.example",
        "ben@contoso.example",
        "cat@contoso.example",
    ] {
        app.user("contoso", email, PASSWORD).await;
    }
    let (client_id, secret) = app
        .app(AppInput {
            tenant: "contoso".into(),
            name: "Payroll".into(),
            redirect_uris: vec![CALLBACK.into()],
            grants: vec!["authorization_code".into(), "refresh_token".into()],
            assignment_required: true,
            ..Default::default()
        })
        .await;
    let client = Client {
        client_id,
        secret,
        redirect_uri: CALLBACK.into(),
    };
    (app, client)
}

/// Signs `email` in to payroll through the pages; returns the redirect back to the app.
async fn sign_in(app: &TestApp, client: &Client, email: &str, pkce: &Pkce) -> String {
    let url = client.authorize_url(&app.issuer("contoso"), "openid offline_access", pkce, &[]);
    app.browser().sign_in(&url, email, PASSWORD).await
}

async fn code_exchange(
    app: &TestApp,
    client: &Client,
    back: &str,
    pkce: &Pkce,
) -> (StatusCode, Value) {
    let code = query_param(back, "code").expect("a code");
    let response = app
        .token(
            "contoso",
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    (response.status(), response.json().await.unwrap())
}

async fn sign_in_log(app: &TestApp) -> Vec<Value> {
    let tenant = app.state.store.tenant_by_slug("contoso").await.unwrap();
    gatehouse::services::access::sign_ins(&app.state, &tenant.id, &Default::default(), 500, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.details)
        .collect()
}

#[tokio::test]
async fn an_unassigned_user_gets_access_denied_and_a_log_row() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let back = sign_in(&app, &client, "ann@contoso.example", &pkce).await;
    assert!(back.starts_with(CALLBACK), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert!(
        query_param(&back, "code").is_none(),
        "no code for an unassigned user"
    );
    let description = query_param(&back, "error_description").unwrap();
    assert!(
        description.contains("not assigned") && description.contains("50105"),
        "{description}"
    );
    let log = sign_in_log(&app).await;
    assert!(
        log.iter()
            .any(|row| row["status"]["errorCode"] == 50105
                && row["appId"] == client.client_id.as_str()),
        "{log:?}"
    );
    // The session the failed attempt left does not help either: prompt=none is refused too.
    let browser = app.browser();
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]);
    let back = browser.sign_in(&url, "ann@contoso.example", PASSWORD).await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    let silent = browser
        .get(&client.authorize_url(
            &app.issuer("contoso"),
            "openid",
            &pkce,
            &[("prompt", "none")],
        ))
        .await;
    let silent = location(&silent).unwrap();
    assert_eq!(
        query_param(&silent, "error").as_deref(),
        Some("access_denied"),
        "{silent}"
    );
}

#[tokio::test]
async fn assignment_directly_or_through_a_group_admits_and_its_removal_stops_the_next_refresh() {
    let (app, client) = setup().await;
    let store = app.state.store.as_ref();
    // Ben directly, Cat through a group.
    assign(
        store,
        "contoso",
        &client.client_id,
        &Assignee::User("ben@contoso.example".into()),
    )
    .await
    .unwrap();
    let group = gatehouse::services::admin::create_group(
        store,
        gatehouse::services::admin::GroupInput {
            tenant: "contoso".into(),
            name: "Payroll clerks".into(),
            members: vec!["cat@contoso.example".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assign(
        store,
        "contoso",
        &client.client_id,
        &Assignee::Group(group.id.clone()),
    )
    .await
    .unwrap();
    let mut refresh_tokens = Vec::new();
    for email in ["ben@contoso.example", "cat@contoso.example"] {
        let pkce = Pkce::new();
        let back = sign_in(&app, &client, email, &pkce).await;
        let (status, tokens) = code_exchange(&app, &client, &back, &pkce).await;
        assert_eq!(status, StatusCode::OK, "{email}: {tokens}");
        refresh_tokens.push(tokens["refresh_token"].as_str().unwrap().to_owned());
    }
    // Ben's assignment is removed: his next refresh is refused; Cat's still works.
    unassign(
        store,
        "contoso",
        &client.client_id,
        &Assignee::User("ben@contoso.example".into()),
    )
    .await
    .unwrap();
    let refresh = |token: String| {
        let app = &app;
        let client = &client;
        async move {
            let response = app
                .token(
                    "contoso",
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await;
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = refresh(refresh_tokens[0].clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not assigned")
            || body["error_description"]
                .as_str()
                .unwrap()
                .contains("no longer assigned")
    );
    let (status, body) = refresh(refresh_tokens[1].clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A code issued before the removal is refused at the exchange as well.
    assign(
        store,
        "contoso",
        &client.client_id,
        &Assignee::User("ben@contoso.example".into()),
    )
    .await
    .unwrap();
    let pkce = Pkce::new();
    let back = sign_in(&app, &client, "ben@contoso.example", &pkce).await;
    unassign(
        store,
        "contoso",
        &client.client_id,
        &Assignee::User("ben@contoso.example".into()),
    )
    .await
    .unwrap();
    let (status, body) = code_exchange(&app, &client, &back, &pkce).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let log = sign_in_log(&app).await;
    assert!(
        log.iter()
            .filter(|row| row["status"]["errorCode"] == 50105)
            .count()
            >= 2,
        "refused refresh and exchange are logged"
    );
}
