//! `private_key_jwt` client authentication (RFC 7523, OIDC Core §9) at the token,
//! introspection and revocation endpoints, with a registered JWK Set or a `jwks_uri`
//! (SECURITY.md C.28): a confidential app with keys and no shared secret; wrong `aud`, an
//! expired or distant `exp`, no `jti`, a replayed `jti`, `alg=none`, HS256 signed with the
//! public key, another key or another client are all `invalid_client` (401), with one
//! description that names no check; `aud` equal to the issuer is accepted.

use gatehouse::domain::app_profile::AppProfile;
use gatehouse::services::admin::AppInput;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, HS256, JwsHeader, JwsSigner, PS256, RS256};
use josekit::jwt::{self, JwtPayload};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::applications::DocServer;
use crate::helpers::TestApp;

const SLUG: &str = "contoso";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair the client holds, with its kid.
struct ClientKey {
    private: Jwk,
    public: Jwk,
    alg: &'static str,
}

impl ClientKey {
    fn rsa(kid: &str, alg: &'static str) -> Self {
        let mut private = Jwk::generate_rsa_key(2048).unwrap();
        private.set_key_id(kid);
        let mut public = private.to_public_key().unwrap();
        public.set_key_id(kid);
        Self {
            private,
            public,
            alg,
        }
    }

    fn ec(kid: &str) -> Self {
        let mut private = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
        private.set_key_id(kid);
        let mut public = private.to_public_key().unwrap();
        public.set_key_id(kid);
        Self {
            private,
            public,
            alg: "ES256",
        }
    }

    fn signer(&self) -> Box<dyn JwsSigner> {
        match self.alg {
            "RS256" => Box::new(RS256.signer_from_jwk(&self.private).unwrap()),
            "PS256" => Box::new(PS256.signer_from_jwk(&self.private).unwrap()),
            _ => Box::new(ES256.signer_from_jwk(&self.private).unwrap()),
        }
    }

    /// A signed assertion with `claims`.
    fn sign(&self, claims: Value) -> String {
        let mut header = JwsHeader::new();
        header.set_key_id(self.private.key_id().unwrap());
        let payload = JwtPayload::from_map(claims.as_object().cloned().unwrap()).unwrap();
        jwt::encode_with_signer(&payload, &header, &*self.signer()).unwrap()
    }
}

fn jwks(keys: &[&ClientKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| Value::Object(k.public.as_ref().clone())).collect::<Vec<_>>() })
}

fn now() -> i64 {
    gatehouse::domain::unix_now()
}

/// Good claims for `client_id` at `app`'s token endpoint.
fn claims(app: &TestApp, client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": format!("{}/oauth2/token", app.issuer(SLUG)),
        "jti": gatehouse::secrets::random_token(16),
        "iat": now(),
        "exp": now() + 60,
    })
}

/// A confidential client-credentials app with `profile`'s keys; returns its client id.
async fn keyed_app(app: &TestApp, profile: AppProfile) -> String {
    let (client_id, secret) = app
        .app(AppInput {
            tenant: SLUG.into(),
            name: "Keyed".into(),
            grants: vec!["client_credentials".into()],
            profile,
            ..Default::default()
        })
        .await;
    assert!(secret.is_none(), "an app with keys gets no shared secret");
    client_id
}

async fn post(app: &TestApp, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .api()
        .post(format!("{}/oauth2/{endpoint}", app.issuer(SLUG)))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn token_with(app: &TestApp, assertion: &str) -> (StatusCode, Value) {
    post(
        app,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn assert_refused((status, body): (StatusCode, Value), why: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    assert_eq!(body["error"], "invalid_client", "{why}");
    assert_eq!(
        body["error_description"], "client authentication failed",
        "{why}: the answer does not say which check failed"
    );
}

fn with(mut claims: Value, field: &str, value: Option<Value>) -> Value {
    match value {
        Some(value) => claims[field] = value,
        None => {
            claims.as_object_mut().unwrap().remove(field);
        }
    }
    claims
}

#[tokio::test]
async fn a_registered_key_authenticates_and_every_broken_assertion_is_refused() {
    let app = TestApp::spawn().await;
    app.tenant(SLUG).await;
    let key = ClientKey::rsa("k1", "RS256");
    let mut profile = AppProfile::default();
    profile.keys.jwks = Some(jwks(&[&key]));
    let client_id = keyed_app(&app, profile).await;
    let good = claims(&app, &client_id);
    let (status, body) = token_with(&app, &key.sign(good.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    // `aud` equal to the issuer is accepted (OIDC §9).
    let issuer_aud = with(
        claims(&app, &client_id),
        "aud",
        Some(json!(app.issuer(SLUG))),
    );
    assert_eq!(
        token_with(&app, &key.sign(issuer_aud)).await.0,
        StatusCode::OK
    );
    // A replayed jti.
    assert_refused(token_with(&app, &key.sign(good)).await, "replayed jti");
    let fresh = || claims(&app, &client_id);
    for (why, broken) in [
        (
            "wrong aud",
            with(
                fresh(),
                "aud",
                Some(json!("https://elsewhere.example/token")),
            ),
        ),
        (
            "expired exp",
            with(fresh(), "exp", Some(json!(now() - 120))),
        ),
        ("no exp", with(fresh(), "exp", None)),
        (
            "exp beyond an hour",
            with(fresh(), "exp", Some(json!(now() + 7200))),
        ),
        ("no jti", with(fresh(), "jti", None)),
        (
            "another iss",
            with(fresh(), "iss", Some(json!("someone-else"))),
        ),
    ] {
        assert_refused(token_with(&app, &key.sign(broken)).await, why);
    }
    // alg=none.
    let payload = JwtPayload::from_map(fresh().as_object().cloned().unwrap()).unwrap();
    let unsecured = jwt::encode_unsecured(&payload, &JwsHeader::new()).unwrap();
    assert_refused(token_with(&app, &unsecured).await, "alg none");
    // HS256 with the public key as the HMAC secret (key confusion).
    let public_text = serde_json::to_string(&jwks(&[&key])["keys"][0]).unwrap();
    let hmac = HS256.signer_from_bytes(public_text.as_bytes()).unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id("k1");
    let confused = jwt::encode_with_signer(&payload, &header, &hmac).unwrap();
    assert_refused(
        token_with(&app, &confused).await,
        "HS256 with the public key",
    );
    let modulus = key
        .public
        .parameter("n")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let hmac = HS256.signer_from_bytes(modulus.as_bytes()).unwrap();
    let confused = jwt::encode_with_signer(&payload, &header, &hmac).unwrap();
    assert_refused(token_with(&app, &confused).await, "HS256 with the modulus");
    // A key the client never registered, even under the registered kid.
    let stranger = ClientKey::rsa("k1", "RS256");
    assert_refused(
        token_with(&app, &stranger.sign(fresh())).await,
        "unregistered key",
    );
    // Two methods at once, and a client_id that is not the assertion's.
    let (status, body) = post(
        &app,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &key.sign(fresh())),
            ("client_secret", "also a secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let (status, _) = post(
        &app,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &key.sign(fresh())),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        &app,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "another-client"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &key.sign(fresh())),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Without an assertion or a secret the keyed client is not authenticated.
    let (status, _) = post(
        &app,
        "token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The node never logs an assertion.
    let logs = String::from_utf8_lossy(&crate::helpers::LOGS.lock().unwrap()).into_owned();
    assert!(!logs.contains(&unsecured));
}

#[tokio::test]
async fn ps256_and_es256_keys_work_at_token_introspection_and_revocation() {
    let app = TestApp::spawn().await;
    app.tenant(SLUG).await;
    let ps = ClientKey::rsa("ps", "PS256");
    let es = ClientKey::ec("es");
    let mut profile = AppProfile::default();
    profile.keys.jwks = Some(jwks(&[&ps, &es]));
    let client_id = keyed_app(&app, profile).await;
    let (status, issued) = token_with(&app, &ps.sign(claims(&app, &client_id))).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let access = issued["access_token"].as_str().unwrap().to_owned();
    let introspect_aud = with(
        claims(&app, &client_id),
        "aud",
        Some(json!(format!("{}/oauth2/introspect", app.issuer(SLUG)))),
    );
    let (status, body) = post(
        &app,
        "introspect",
        &[
            ("token", &access),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &es.sign(introspect_aud)),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    let response = app
        .api()
        .post(format!("{}/oauth2/revoke", app.issuer(SLUG)))
        .form(&[
            ("token", access.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &es.sign(claims(&app, &client_id))),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = post(
        &app,
        "introspect",
        &[
            ("token", &access),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &ps.sign(claims(&app, &client_id))),
        ],
    )
    .await;
    assert_eq!(body["active"], false, "revoked");
    // Discovery says so.
    let discovery = app.discovery(SLUG).await;
    assert!(
        discovery["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert_eq!(
        discovery["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256"])
    );
}

#[tokio::test]
async fn keys_published_at_a_jwks_uri_are_fetched_and_refetched_on_a_new_kid() {
    let app = TestApp::spawn().await;
    app.tenant(SLUG).await;
    let first = ClientKey::rsa("2026-01", "RS256");
    let served = DocServer::start(&jwks(&[&first]).to_string()).await;
    let mut profile = AppProfile::default();
    profile.keys.jwks_uri = Some(served.url.clone());
    let client_id = keyed_app(&app, profile).await;
    let (status, body) = token_with(&app, &first.sign(claims(&app, &client_id))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The client rotates: it publishes a new key and signs with it.
    let second = ClientKey::ec("2026-02");
    served.set(&jwks(&[&second]).to_string());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = token_with(&app, &second.sign(claims(&app, &client_id))).await;
    assert_eq!(status, StatusCode::OK, "a new kid is fetched: {body}");
    // The old key is gone from the published set; the cached copy is the new one.
    assert_refused(
        token_with(&app, &first.sign(claims(&app, &client_id))).await,
        "a withdrawn key",
    );
}

#[tokio::test]
async fn keys_are_registered_by_patch_and_private_keys_are_refused() {
    let world = crate::b2b::World::new().await;
    let token = world.backend_token().await;
    let (client_id, _) = world
        .app
        .app(AppInput {
            tenant: crate::b2b::SLUG.into(),
            name: "Moving to keys".into(),
            grants: vec!["client_credentials".into()],
            ..Default::default()
        })
        .await;
    let key = ClientKey::rsa("patched", "RS256");
    let path = format!("applications(appId='{client_id}')");
    let private = json!({ "keys": [Value::Object(key.private.as_ref().clone())] });
    let (status, body) = world
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"jwks": private})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = world
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"jwks": jwks(&[&key])})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mut good = claims(&world.app, &client_id);
    good["aud"] = json!(world.issuer());
    let (status, body) = post_at(&world.app, crate::b2b::SLUG, &key.sign(good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn post_at(app: &TestApp, slug: &str, assertion: &str) -> (StatusCode, Value) {
    let response = app
        .api()
        .post(format!("{}/oauth2/token", app.issuer(slug)))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}
