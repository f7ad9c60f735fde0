//! The admin API's applications: list, read (by object id and by appId), PATCH in Graph's
//! shape with the whole result checked, the SAML side and its metadata refresh through the
//! guarded client, who may do what (administrators, owners) and the audit trail. Secrets,
//! deletion and a change seen by every node are in `app_lifecycle`.

use std::sync::{Arc, Mutex};

use gatehouse::services::admin::{AppInput, SamlInput, UserInput};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{SLUG, World};
use crate::helpers::Client;

/// A tiny HTTP server that serves one document (SAML metadata, a JWK Set) that a test may
/// change while it runs.
pub struct DocServer {
    /// `http://127.0.0.1:{port}/doc`.
    pub url: String,
    body: Arc<Mutex<String>>,
    server: tokio::task::JoinHandle<()>,
}

impl DocServer {
    /// Starts serving `body`.
    pub async fn start(body: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/doc",
            listener.local_addr().unwrap().port()
        );
        let body = Arc::new(Mutex::new(body.to_owned()));
        let served = body.clone();
        let router = axum::Router::new().route(
            "/doc",
            axum::routing::get(move || {
                let served = served.clone();
                async move { served.lock().unwrap().clone() }
            }),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, body, server }
    }

    /// Serves `body` from now on.
    pub fn set(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An app of the world's tenant; returns (object id, client).
pub async fn app(world: &World, input: AppInput) -> (String, Client) {
    let (app, secret) =
        gatehouse::services::admin::create_app(world.app.state.store.as_ref(), input)
            .await
            .unwrap();
    let client = Client {
        client_id: app.client_id,
        secret,
        redirect_uri: app.redirect_uris.first().cloned().unwrap_or_default(),
    };
    (app.id, client)
}

/// A confidential client-credentials app of the world's tenant.
pub async fn service_app(world: &World, name: &str) -> (String, Client) {
    app(
        world,
        AppInput {
            tenant: SLUG.into(),
            name: name.into(),
            grants: vec!["client_credentials".into()],
            ..Default::default()
        },
    )
    .await
}

/// A client-credentials token of an app holding `permissions`.
async fn token_with(world: &World, permissions: &[&str]) -> String {
    let (_, client) = app(
        world,
        AppInput {
            tenant: SLUG.into(),
            name: "Caller".into(),
            grants: vec!["client_credentials".into()],
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        },
    )
    .await;
    world.app_token(&client).await
}

/// The tenant's audit events, newest first.
pub async fn audit_activities(world: &World, token: &str) -> Vec<Value> {
    let (status, body) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn applications_are_listed_read_and_patched_in_graphs_shape() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (id, client) = service_app(&world, "Alpha service").await;
    // The list pages with @odata.nextLink like every other list.
    let (status, page) = world
        .call(Method::GET, "applications?$top=1", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    let next = page["@odata.nextLink"].as_str().expect("a next link");
    let response = world
        .app
        .api()
        .get(next)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, all) = world
        .call(Method::GET, "applications", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(all["value"].as_array().unwrap().len() >= 3);
    // One app, by object id and by appId.
    let (status, got) = world
        .call(
            Method::GET,
            &format!("applications/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["appId"], client.client_id.as_str());
    assert_eq!(got["signInAudience"], "AzureADMyOrg");
    assert_eq!(got["isFallbackPublicClient"], false);
    assert_eq!(got["passwordCredentials"][0]["secretText"], Value::Null);
    let secret = client.secret.clone().unwrap();
    assert!(
        !got.to_string().contains(&secret),
        "the secret is never shown again"
    );
    let by_app_id = format!("applications(appId='{}')", client.client_id);
    let (status, same) = world
        .call(Method::GET, &by_app_id, Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["id"], id.as_str());
    // A PATCH of many properties at once.
    let role_id = "7f9a1c3e-1111-4a4a-8b8b-000000000001";
    let patch = json!({
        "displayName": "Alpha service v2",
        "web": {"redirectUris": ["https://alpha.example/cb"], "homePageUrl": "https://alpha.example/", "logoutUrl": "https://alpha.example/fc"},
        "info": {"logoUrl": "https://alpha.example/logo.png"},
        "appRoles": [{"id": role_id, "value": "Reader", "displayName": "Reader", "description": "reads",
                      "allowedMemberTypes": ["User"], "isEnabled": true}],
        "groupMembershipClaims": "SecurityGroup",
        "optionalClaims": {"idToken": [{"name": "email", "source": null, "essential": false, "additionalProperties": []}]},
        "appRoleAssignmentRequired": true,
        "postLogoutRedirectUris": ["https://alpha.example/bye"],
        "backchannelLogoutUri": "https://alpha.example/bc",
        "backchannelLogoutSessionRequired": true,
        "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
        "idTokenSignedResponseAlg": "ES256",
        "accessTokenLifetimeSeconds": 900,
        "idTokenLifetimeSeconds": 600,
        "signInAudience": "AzureADMyOrg",
    });
    let (status, body) = world
        .call(
            Method::PATCH,
            &format!("applications/{id}"),
            Some(&token),
            Some(patch),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, got) = world
        .call(
            Method::GET,
            &format!("applications/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(got["displayName"], "Alpha service v2");
    assert_eq!(
        got["web"]["redirectUris"],
        json!(["https://alpha.example/cb"])
    );
    assert_eq!(got["web"]["logoutUrl"], "https://alpha.example/fc");
    assert_eq!(got["info"]["logoUrl"], "https://alpha.example/logo.png");
    assert_eq!(got["appRoles"][0]["value"], "Reader");
    assert_eq!(got["groupMembershipClaims"], "SecurityGroup");
    assert_eq!(got["optionalClaims"]["idToken"][0]["name"], "email");
    assert_eq!(got["appRoleAssignmentRequired"], true);
    assert_eq!(got["backchannelLogoutUri"], "https://alpha.example/bc");
    assert_eq!(got["idTokenSignedResponseAlg"], "ES256");
    assert_eq!(got["accessTokenLifetimeSeconds"], 900);
    // The node answers with the change at once: the client's tokens are now ES256.
    let response = world
        .app
        .token(SLUG, &client, &[("grant_type", "client_credentials")])
        .await;
    let issued: Value = response.json().await.unwrap();
    let (header, _) = crate::helpers::jwt_parts(issued["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");
    // The change is audited.
    let events = audit_activities(&world, &token).await;
    assert!(
        events.iter().any(
            |e| e["activityDisplayName"] == "Update application" && e.to_string().contains(&id)
        ),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_patch_that_breaks_a_rule_is_a_400_that_names_it() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (id, _) = service_app(&world, "Strict").await;
    let path = format!("applications/{id}");
    for (patch, names) in [
        (json!({"shoeSize": 42}), "shoeSize"),
        (json!({"displayName": 7}), "displayName"),
        (json!({"appId": "x"}), "read-only"),
        (json!({"passwordCredentials": []}), "read-only"),
        (
            json!({"web": {"redirectUris": ["http://evil.example/cb"]}, "grantTypes": ["authorization_code"]}),
            "http://",
        ),
        (json!({"web": {"colour": "red"}}), "colour"),
        (json!({"grantTypes": ["authorization_code"]}), "redirect"),
        (json!({"grantTypes": ["password"]}), "password"),
        (
            json!({"appRoles": [{"id": "nope", "value": "R", "displayName": "R", "allowedMemberTypes": ["User"]}]}),
            "UUID",
        ),
        (json!({"accessTokenLifetimeSeconds": 60}), "lifetimes"),
        (
            json!({"optionalClaims": {"idToken": [{"name": "shoe_size"}]}}),
            "shoe_size",
        ),
        (
            json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "private",
        ),
        (
            json!({"jwks": {"keys": []}, "jwksUri": "https://x.example/jwks"}),
            "not both",
        ),
        (
            json!({"saml": {"sloUrl": "https://sp.example/slo"}}),
            "entityId",
        ),
        (
            json!({"signInAudience": "AzureADMultipleOrgs"}),
            "signInAudience",
        ),
        (json!({"idTokenSignedResponseAlg": "HS256"}), "HS256"),
        (json!(["not", "an", "object"]), "object"),
    ] {
        let (status, body) = world
            .call(Method::PATCH, &path, Some(&token), Some(patch.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{patch}: {message}");
    }
    // Not JSON at all.
    let response = world
        .app
        .api()
        .patch(world.api_url(&path))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Nothing was changed by the refused patches.
    let (_, got) = world.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(got["displayName"], "Strict");
    // Unknown apps are 404 for every operation.
    for (method, path) in [
        (Method::GET, "applications/no-such-app"),
        (Method::PATCH, "applications/no-such-app"),
        (Method::DELETE, "applications/no-such-app"),
        (Method::GET, "applications(appId='no-such-client')"),
    ] {
        let (status, body) = world
            .call(
                method.clone(),
                path,
                Some(&token),
                Some(json!({"displayName": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn reading_and_changing_need_the_application_permissions_or_ownership() {
    let world = World::new().await;
    let (id, _) = service_app(&world, "Guarded").await;
    let path = format!("applications/{id}");
    let patch = json!({"displayName": "Renamed"});
    let none = token_with(&world, &["User.Read.All"]).await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let (status, _) = world
            .call(method.clone(), &path, Some(&none), Some(patch.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}");
    }
    let (status, _) = world
        .call(Method::GET, "applications", Some(&none), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world.call(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let reader = token_with(&world, &["Application.Read.All"]).await;
    let (status, _) = world.call(Method::GET, &path, Some(&reader), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = world
        .call(Method::PATCH, &path, Some(&reader), Some(patch.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .call(
            Method::POST,
            &format!("{path}/addPassword"),
            Some(&reader),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An owner without a directory role changes their own app as a delegated caller, and
    // nobody else's.
    let owner_email = "olivia@contoso.example";
    gatehouse::services::admin::create_user(
        world.app.state.store.as_ref(),
        &world.app.state.passwords,
        UserInput {
            tenant: SLUG.into(),
            email: owner_email.into(),
            name: "Olivia Owner".into(),
            password: Some("olivia's long password".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (owned, _) = app(
        &world,
        AppInput {
            tenant: SLUG.into(),
            name: "Olivia's app".into(),
            grants: vec!["client_credentials".into()],
            owners: vec![owner_email.into()],
            ..Default::default()
        },
    )
    .await;
    let delegated = world
        .user_token(
            owner_email,
            "olivia's long password",
            "openid Application.ReadWrite.All",
        )
        .await;
    let mine = format!("applications/{owned}");
    let (status, body) = world
        .call(Method::PATCH, &mine, Some(&delegated), Some(patch.clone()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, got) = world.call(Method::GET, &mine, Some(&delegated), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["displayName"], "Renamed");
    let (status, _) = world.call(Method::GET, &path, Some(&delegated), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not her app");
    let (status, _) = world
        .call(Method::GET, "applications", Some(&delegated), None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "owners do not list the directory"
    );
    // Without the delegated permission in the token, ownership alone does not do.
    let plain = world
        .user_token(owner_email, "olivia's long password", "openid")
        .await;
    let (status, _) = world.call(Method::GET, &mine, Some(&plain), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

const SP_ENTITY: &str = "https://sp.fabrikam.example/metadata";

fn sp_metadata(entity: &str, acs: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.fabrikam.example/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

#[tokio::test]
async fn saml_settings_are_patched_and_the_metadata_refreshed_through_the_guarded_client() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (id, _) = app(
        &world,
        AppInput {
            tenant: SLUG.into(),
            name: "SAML SP".into(),
            saml: Some(SamlInput {
                entity_id: Some(SP_ENTITY.into()),
                acs_urls: vec!["https://sp.fabrikam.example/acs".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let path = format!("applications/{id}");
    let served = DocServer::start(&sp_metadata(
        "https://sp.fabrikam.example/v2",
        "https://sp.fabrikam.example/acs2",
    ))
    .await;
    let patch = json!({"saml": {"nameIdFormat": "emailAddress", "signResponse": true, "metadataUrl": served.url}});
    let (status, body) = world
        .call(Method::PATCH, &path, Some(&token), Some(patch))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, got) = world.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(got["saml"]["nameIdFormat"], "emailAddress");
    assert_eq!(got["saml"]["entityId"], SP_ENTITY);
    let (status, refreshed) = world
        .call(
            Method::POST,
            &format!("{path}/refreshSamlMetadata"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        refreshed["saml"]["entityId"],
        "https://sp.fabrikam.example/v2"
    );
    assert_eq!(
        refreshed["saml"]["acsUrls"],
        json!(["https://sp.fabrikam.example/acs2"])
    );
    assert_eq!(
        refreshed["saml"]["sloUrl"],
        "https://sp.fabrikam.example/slo"
    );
    assert_eq!(
        refreshed["saml"]["nameIdFormat"], "emailAddress",
        "the administrator's choice stays"
    );
    assert_eq!(refreshed["saml"]["signResponse"], true);
    // The SP is found by its new entity id at once.
    let found = world
        .app
        .state
        .directory
        .saml_app(&world.tenant.id, "https://sp.fabrikam.example/v2")
        .await
        .unwrap();
    assert!(found.is_some());
    // Metadata that is not metadata is a 400, and nothing changes.
    served.set("<not-metadata/>");
    let (status, _) = world
        .call(
            Method::POST,
            &format!("{path}/refreshSamlMetadata"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Removing the SAML side, and an app with no metadata URL.
    let (status, body) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"saml": null})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an app with no grants must stay a SAML SP: {body}"
    );
    let patch = json!({"saml": null, "grantTypes": ["client_credentials"]});
    let (status, body) = world
        .call(Method::PATCH, &path, Some(&token), Some(patch))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = world
        .call(
            Method::POST,
            &format!("{path}/refreshSamlMetadata"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_metadata_url_on_a_private_address_is_refused_when_the_guard_is_on() {
    let world = World::with(|config| config.federation.allow_private_networks = false).await;
    let token = world.backend_token().await;
    let served = DocServer::start(&sp_metadata(SP_ENTITY, "https://sp.fabrikam.example/acs")).await;
    let (id, _) = app(
        &world,
        AppInput {
            tenant: SLUG.into(),
            name: "SAML SP".into(),
            saml: Some(SamlInput {
                entity_id: Some(SP_ENTITY.into()),
                acs_urls: vec!["https://sp.fabrikam.example/acs".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let path = format!("applications/{id}");
    let (status, _) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"saml": {"metadataUrl": served.url}})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = world
        .call(
            Method::POST,
            &format!("{path}/refreshSamlMetadata"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
