//! Two nodes on one Postgres and one Redis: a sign-in started on node A finishes on node B,
//! and configuration changed through one node is seen by the other. Runs when the test
//! environment provides shared storage (`GATEHOUSE_TEST_DATABASE_URL` and
//! `GATEHOUSE_TEST_REDIS_URL`, as `.ci/run` does); on SQLite it says so and returns.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backing, Pkce, TestApp, location, parse_form, query_param, verify_with_jwks};

const REDIRECT: &str = "https://rp.example/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn a_sign_in_started_on_node_a_completes_on_node_b() {
    let backing = Arc::new(Backing::new().await);
    if !backing.is_shared() {
        eprintln!(
            "skipped: needs GATEHOUSE_TEST_DATABASE_URL (Postgres) and GATEHOUSE_TEST_REDIS_URL"
        );
        return;
    }
    let a = TestApp::spawn_on(backing.clone(), |_| {}).await;
    // Node B serves the same public URL, as two nodes behind one load balancer do.
    let public = a.base.clone();
    let b = TestApp::spawn_on(backing.clone(), move |c| c.public_url = public).await;
    assert_ne!(a.base, b.base);
    a.tenant("contoso").await;
    a.user("contoso", EMAIL, PASSWORD).await;
    let client = a.web_app("contoso", REDIRECT).await;

    let browser = a.browser();
    let pkce = Pkce::new();
    let (login, html) = browser
        .open_login(&client.authorize_url(&a.issuer("contoso"), "openid", &pkce, &[]))
        .await;
    let html = browser.submit_email(&html, EMAIL).await;
    assert!(login.starts_with("/contoso/login"));
    // Continue on node B: the same browser cookies, the transaction from Redis.
    let mut form = parse_form(&html);
    form.fields.insert("password".into(), PASSWORD.into());
    // The load balancer sends this POST to node B; the browser only knows the public origin.
    // (Cookies are per host, not per port, so the same ones reach node B.)
    let response = browser
        .post_form_through(&a.base, &format!("{}{}", b.base, form.action), &form.fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = location(&response).unwrap();
    let code = query_param(&back, "code").expect("node B answers with a code");
    assert_eq!(query_param(&back, "iss"), Some(a.issuer("contoso")));
    // Redeem at node B too, and check the token against node A's JWKS: the keys are shared.
    let tokens: Value = b
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    verify_with_jwks(&a, "contoso", tokens["id_token"].as_str().unwrap()).await;
    // A code is single use across the cluster.
    let replay = a
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn policies_and_partners_changed_by_another_process_reach_a_node_at_its_next_poll() {
    // A node caches a tenant's policies and partners. A change made by another process (the
    // CLI, another node) bumps the configuration generation, and the node's next poll drops
    // its copies. Without the bump, the empty lists cached below would stay.
    let app = TestApp::spawn().await;
    let tenant = app.tenant("contoso").await;
    let state = &app.state;
    state.directory.poll(&state.keys).await.unwrap();
    assert_cached(state, &tenant.id, 0, 0).await;

    let input = gatehouse::services::admin::policies::PolicyInput {
        display_name: "MFA for everyone".into(),
        state: gatehouse::domain::policy::PolicyState::Enabled,
        conditions: serde_json::from_value(serde_json::json!({
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["All"]}
        }))
        .unwrap(),
        grant: serde_json::from_value(serde_json::json!({"builtInControls": ["mfa"]})).unwrap(),
    };
    let by = gatehouse::store::Party {
        id: "cli".into(),
        kind: "app".into(),
        display: "gatehouse CLI".into(),
    };
    gatehouse::services::admin::policies::create_policy(
        state.store.as_ref(),
        &tenant,
        input,
        by.clone(),
    )
    .await
    .unwrap();
    state.directory.poll(&state.keys).await.unwrap();
    assert_cached(state, &tenant.id, 1, 0).await;

    let partner = gatehouse::domain::partner::PartnerIdp {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        kind: gatehouse::domain::partner::PartnerKind::Oidc,
        display_name: "Northwind".into(),
        issuer: "https://login.northwind.example".into(),
        client_id: Some("gatehouse".into()),
        sealed_client_secret: None,
        client_auth: Some(gatehouse::domain::partner::ClientAuth::PrivateKeyJwt),
        scopes: vec!["openid".into()],
        metadata_xml: None,
        metadata_url: None,
        trust_mfa: false,
        mfa_values: vec![],
        offered_to_all: true,
        domains: vec![],
        created_at: 0,
    };
    let audit = gatehouse::store::AuditEvent::new(
        &tenant.id,
        "Policy",
        "Add identity provider",
        by,
        vec![],
    );
    state.store.create_partner(&partner, &audit).await.unwrap();
    state.directory.poll(&state.keys).await.unwrap();
    assert_cached(state, &tenant.id, 1, 1).await;
}

/// Asserts how many policies and partners the node's directory serves for the tenant.
async fn assert_cached(
    state: &gatehouse::services::AppState,
    tenant_id: &str,
    policies: usize,
    partners: usize,
) {
    assert_eq!(
        state.directory.policies(tenant_id).await.unwrap().len(),
        policies
    );
    assert_eq!(
        state.directory.partners(tenant_id).await.unwrap().len(),
        partners
    );
}

#[tokio::test]
async fn a_policy_change_on_one_node_reaches_the_other_at_once() {
    // Two nodes on one database (Postgres: the change is pushed by NOTIFY; SQLite: each node
    // polls the configuration generation every 250 ms). Five changes made through node A's
    // admin API; each time, how long until node B's cached policies show it.
    let backing = Arc::new(Backing::new().await);
    let a = TestApp::spawn_on(backing.clone(), |_| {}).await;
    let b = TestApp::spawn_on(backing.clone(), |_| {}).await;
    let tenant = a.tenant("contoso").await;
    let (client_id, secret) = a
        .app(gatehouse::services::admin::AppInput {
            tenant: "contoso".into(),
            name: "Policy robot".into(),
            grants: vec!["client_credentials".into()],
            permissions: vec!["Policy.ReadWrite.ConditionalAccess".into()],
            ..Default::default()
        })
        .await;
    let robot = crate::helpers::Client {
        client_id,
        secret,
        redirect_uri: String::new(),
    };
    let token: Value = a
        .token("contoso", &robot, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let policies_url = format!(
        "{}/v1.0/identity/conditionalAccess/policies",
        a.issuer("contoso")
    );
    let seen_by_b = |expected: usize| {
        let b = &b;
        let tenant_id = tenant.id.clone();
        async move {
            let started = std::time::Instant::now();
            loop {
                let cached = b.state.directory.policies(&tenant_id).await.unwrap().len();
                if cached == expected {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(5),
                    "never seen"
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    };
    seen_by_b(0).await;
    let mut delays = Vec::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        let created: Value = a
            .api()
            .post(&policies_url)
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "displayName": format!("Block {n}"),
                "state": "enabled",
                "conditions": {
                    "users": {"includeUsers": ["All"]},
                    "applications": {"includeApplications": ["All"]}
                },
                "grantControls": {"operator": "OR", "builtInControls": ["block"]},
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
        delays.push(seen_by_b(n + 1).await);
    }
    // And deletions, which used to keep blocking.
    for (n, id) in ids.iter().enumerate() {
        let deleted = a
            .api()
            .delete(format!("{policies_url}/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        delays.push(seen_by_b(ids.len() - n - 1).await);
    }
    let worst = delays.iter().max().unwrap();
    eprintln!(
        "configuration propagation to the other node ({}): {:?} (worst {worst:?})",
        if backing.is_shared() {
            "Postgres NOTIFY"
        } else {
            "SQLite poll"
        },
        delays
    );
    assert!(
        *worst < std::time::Duration::from_millis(600),
        "every change reached node B at once: {delays:?}"
    );
}
