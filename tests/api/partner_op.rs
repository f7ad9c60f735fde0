//! Partner OpenID Connect providers that authenticate clients the way many real ones do
//! (SECURITY.md G; issue 13 item 4): a small OP of the test's own, not Gatehouse's code, on its
//! own loopback port (axum), with its own RSA key, a headless authorize endpoint that signs a
//! fixed account in, and a token endpoint that takes exactly one client authentication method
//! and checks it strictly: `client_secret_post` (an `Authorization` header is `invalid_client`,
//! as Okta answers), or `private_key_jwt` (RFC 7523), whose assertion it verifies against the
//! JWKS Gatehouse publishes at `{issuer}/oauth2/jwks`, fetched over HTTP like a partner would.
//! The ID token's `email_verified` is whatever JSON the test sets: `true`, `"true"`,
//! `"false"`, `"TRUE"`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{ES256, JwsHeader, RS256};
use josekit::jwt::{self, JwtPayload};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::b2b::{APP_ORIGIN, World, follow, invitation_landing, submit};
use crate::helpers::{Pkce, location};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const DOMAIN: &str = "fabrikam.example";
const ERIN: &str = "erin@fabrikam.example";

/// How the partner's token endpoint authenticates its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `client_secret_post` only.
    SecretPost,
    /// `private_key_jwt` only.
    PrivateKeyJwt,
}

/// A code waiting for its exchange.
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

struct OpState {
    issuer: String,
    takes: Takes,
    client_id: String,
    client_secret: String,
    /// Where the client's keys are (the partner's registration of Gatehouse).
    client_jwks_uri: String,
    /// The key ID tokens are signed with (its `kid` set), and the one the JWKS publishes:
    /// the same key unless a test forges.
    key: Mutex<Jwk>,
    published: Mutex<Jwk>,
    email_verified: Mutex<Value>,
    codes: Mutex<HashMap<String, Grant>>,
    seen_jti: Mutex<HashSet<String>>,
    /// Why token requests were refused.
    refusals: Mutex<Vec<String>>,
    /// The header and claims of every client assertion that verified.
    assertions: Mutex<Vec<(Value, Value)>>,
    exchanges: Mutex<usize>,
}

/// A running partner OP; stops when dropped.
struct PartnerOp {
    state: Arc<OpState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for PartnerOp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl PartnerOp {
    /// Starts an OP taking `takes`, whose client (Gatehouse) has `client_jwks_uri`.
    async fn start(takes: Takes, client_jwks_uri: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let mut key = Jwk::generate_rsa_key(2048).unwrap();
        key.set_key_id("partner-key-1");
        let state = Arc::new(OpState {
            issuer,
            takes,
            client_id: "gatehouse-contoso".into(),
            client_secret: "a long partner-issued client secret".into(),
            client_jwks_uri: client_jwks_uri.into(),
            key: Mutex::new(key.clone()),
            published: Mutex::new(key),
            email_verified: Mutex::new(json!(true)),
            codes: Mutex::default(),
            seen_jti: Mutex::default(),
            refusals: Mutex::default(),
            assertions: Mutex::default(),
            exchanges: Mutex::new(0),
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { state, server }
    }

    fn issuer(&self) -> &str {
        &self.state.issuer
    }

    fn set_email_verified(&self, value: Value) {
        *self.state.email_verified.lock().unwrap() = value;
    }

    fn refusals(&self) -> Vec<String> {
        self.state.refusals.lock().unwrap().clone()
    }

    fn exchanges(&self) -> usize {
        *self.state.exchanges.lock().unwrap()
    }

    /// Rotates to a new signing key `kid`, which the JWKS publishes from now on (alone).
    fn rotate_key(&self, kid: &str) {
        let mut key = Jwk::generate_rsa_key(2048).unwrap();
        key.set_key_id(kid);
        *self.state.key.lock().unwrap() = key.clone();
        *self.state.published.lock().unwrap() = key;
    }

    /// Signs ID tokens with a key the JWKS never publishes, naming `kid`.
    fn forge_with_unpublished_key(&self, kid: &str) {
        let mut key = Jwk::generate_rsa_key(2048).unwrap();
        key.set_key_id(kid);
        *self.state.key.lock().unwrap() = key;
    }
}

async fn discovery(State(op): State<Arc<OpState>>) -> AxumResponse {
    let method = match op.takes {
        Takes::SecretPost => "client_secret_post",
        Takes::PrivateKeyJwt => "private_key_jwt",
    };
    axum::Json(json!({
        "issuer": op.issuer,
        "authorization_endpoint": format!("{}/authorize", op.issuer),
        "token_endpoint": format!("{}/token", op.issuer),
        "jwks_uri": format!("{}/jwks", op.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [method],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["openid", "email", "profile"],
    }))
    .into_response()
}

async fn jwks(State(op): State<Arc<OpState>>) -> AxumResponse {
    let published = op.published.lock().unwrap().clone();
    let mut public = published.to_public_key().unwrap();
    public.set_key_id(published.key_id().unwrap());
    public.set_algorithm("RS256");
    public.set_key_use("sig");
    let public: Value = serde_json::from_str(&public.to_string()).unwrap();
    axum::Json(json!({ "keys": [public] })).into_response()
}

/// Signs the fixed account in at once and sends the browser back with a code.
async fn authorize(
    State(op): State<Arc<OpState>>,
    Query(query): Query<HashMap<String, String>>,
) -> AxumResponse {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    if param("client_id") != op.client_id
        || param("response_type") != "code"
        || param("code_challenge_method") != "S256"
    {
        return (AxumStatus::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = random();
    op.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            redirect_uri: param("redirect_uri"),
            challenge: param("code_challenge"),
            nonce: param("nonce"),
        },
    );
    let back = format!(
        "{}?{}",
        param("redirect_uri"),
        crate::helpers::encode(&[
            ("code", &code),
            ("state", &param("state")),
            ("iss", &op.issuer)
        ])
    );
    (AxumStatus::SEE_OTHER, [(header::LOCATION, back)]).into_response()
}

/// 128 random bits, base64url.
fn random() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn invalid_client(op: &OpState, why: impl Into<String>) -> AxumResponse {
    let why = why.into();
    op.refusals.lock().unwrap().push(why.clone());
    (
        AxumStatus::UNAUTHORIZED,
        axum::Json(json!({"error": "invalid_client", "error_description": why})),
    )
        .into_response()
}

/// Verifies a client assertion as RFC 7523 §3 says, against the client's published JWKS.
async fn verify_assertion(op: &OpState, assertion: &str) -> Result<(Value, Value), String> {
    let (header, _) = crate::helpers::jwt_parts(assertion);
    let jwks: Value = reqwest::get(&op.client_jwks_uri)
        .await
        .map_err(|e| format!("client JWKS: {e}"))?
        .json()
        .await
        .map_err(|e| format!("client JWKS: {e}"))?;
    let set = JwkSet::from_bytes(serde_json::to_vec(&jwks).unwrap()).map_err(|e| e.to_string())?;
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let key = set
        .get(kid)
        .into_iter()
        .next()
        .ok_or("kid not in the client's JWKS")?;
    let (payload, _) = match header["alg"].as_str() {
        Some("RS256") => jwt::decode_with_verifier(
            assertion,
            &RS256.verifier_from_jwk(key).map_err(|e| e.to_string())?,
        ),
        Some("ES256") => jwt::decode_with_verifier(
            assertion,
            &ES256.verifier_from_jwk(key).map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("algorithm {other:?} not accepted")),
    }
    .map_err(|e| format!("signature: {e}"))?;
    let claims = Value::Object(payload.into());
    let now = gatehouse::domain::unix_now();
    let token_endpoint = format!("{}/token", op.issuer);
    if claims["iss"] != op.client_id || claims["sub"] != op.client_id {
        return Err("iss and sub must be the client id".into());
    }
    if claims["aud"] != token_endpoint {
        return Err(format!("aud {} is not the token endpoint", claims["aud"]));
    }
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if exp <= now || exp > now + 300 || claims["iat"].as_i64().is_none() {
        return Err("exp/iat out of range".into());
    }
    let jti = claims["jti"].as_str().ok_or("no jti")?.to_owned();
    if !op.seen_jti.lock().unwrap().insert(jti) {
        return Err("jti replayed".into());
    }
    Ok((header, claims))
}

async fn token(State(op): State<Arc<OpState>>, headers: HeaderMap, body: String) -> AxumResponse {
    let form: HashMap<String, String> = match serde_urlencoded::from_str(&body) {
        Ok(form) => form,
        Err(_) => return (AxumStatus::BAD_REQUEST, "bad form").into_response(),
    };
    let param = |name: &str| form.get(name).map(String::as_str);
    if headers.contains_key(header::AUTHORIZATION) {
        return invalid_client(&op, "HTTP Basic client authentication is not accepted");
    }
    match op.takes {
        Takes::SecretPost => {
            if param("client_id") != Some(op.client_id.as_str())
                || param("client_secret") != Some(op.client_secret.as_str())
            {
                return invalid_client(&op, "client_secret_post expected");
            }
        }
        Takes::PrivateKeyJwt => {
            if param("client_secret").is_some() {
                return invalid_client(&op, "no client secret here: private_key_jwt only");
            }
            if param("client_assertion_type") != Some(JWT_BEARER) {
                return invalid_client(&op, "a jwt-bearer client assertion is required");
            }
            if param("client_id").is_some_and(|id| id != op.client_id) {
                return invalid_client(&op, "client_id differs from the assertion");
            }
            match verify_assertion(&op, param("client_assertion").unwrap_or_default()).await {
                Ok(verified) => op.assertions.lock().unwrap().push(verified),
                Err(why) => return invalid_client(&op, why),
            }
        }
    }
    let grant_error = |why: &str| {
        (
            AxumStatus::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let Some(grant) = op
        .codes
        .lock()
        .unwrap()
        .remove(param("code").unwrap_or_default())
    else {
        return grant_error("unknown code");
    };
    let verifier = param("code_verifier").unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
        || param("redirect_uri") != Some(grant.redirect_uri.as_str())
    {
        return grant_error("PKCE or redirect_uri mismatch");
    }
    let now = gatehouse::domain::unix_now();
    let mut claims = json!({
        "iss": op.issuer,
        "sub": "fabrikam-subject-erin",
        "aud": op.client_id,
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "nonce": grant.nonce,
        "email": ERIN,
    });
    let verified = op.email_verified.lock().unwrap().clone();
    if !verified.is_null() {
        claims["email_verified"] = verified;
    }
    let Value::Object(claims) = claims else {
        unreachable!()
    };
    let key = op.key.lock().unwrap().clone();
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(key.key_id().unwrap());
    let id_token = jwt::encode_with_signer(
        &JwtPayload::from_map(claims).unwrap(),
        &header,
        &RS256.signer_from_jwk(&key).unwrap(),
    )
    .unwrap();
    *op.exchanges.lock().unwrap() += 1;
    axum::Json(json!({
        "access_token": random(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

/// Registers `op` through the admin API with `extra` fields; returns (status, body).
async fn register(world: &World, op: &PartnerOp, extra: Value) -> (StatusCode, Value) {
    let token = world.backend_token().await;
    let mut body = json!({
        "@odata.type": "#microsoft.graph.openIdConnectIdentityProvider",
        "displayName": "Fabrikam",
        "issuer": op.issuer(),
        "clientId": op.state.client_id,
        "domains": [{"id": DOMAIN}],
        "attestDomains": true,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    world
        .call(
            Method::POST,
            "identity/identityProviders",
            Some(&token),
            Some(body),
        )
        .await
}

/// A partner that takes only `client_secret_post`, registered with its client secret
/// (asserted created); returns it and the registration's answer.
async fn secret_post_partner(world: &World) -> (PartnerOp, Value) {
    let op = PartnerOp::start(
        Takes::SecretPost,
        &format!("{}/oauth2/jwks", world.issuer()),
    )
    .await;
    let (status, created) = register(
        world,
        &op,
        json!({"clientSecret": op.state.client_secret.clone()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (op, created)
}

/// Opens the invitation mail to Erin, goes to the partner and back; returns the answer to
/// the callback (the consent page's redirect, or a refusal).
async fn to_partner_and_back(world: &World, op: &PartnerOp, nth_mail: usize) -> reqwest::Response {
    let mail = world.smtp.wait_for(ERIN, nth_mail).await;
    let browser = world.app.browser();
    let landing = invitation_landing(world, &browser, &mail).await;
    let to_partner = submit(&browser, &landing, &[]).await;
    let authorize = location(&to_partner).unwrap();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", op.issuer())),
        "{authorize}"
    );
    let back = browser.get(&authorize).await;
    let callback = location(&back).unwrap();
    let answer = browser.get(&callback).await;
    if answer.status() == StatusCode::SEE_OTHER {
        let consent = follow(&browser, answer).await;
        assert!(consent.contains("will receive"), "{consent}");
        return submit(&browser, &consent, &[("decision", "allow")]).await;
    }
    answer
}

/// Signs Erin in later by home-realm discovery; returns the final response.
async fn sign_in_later(world: &World) -> reqwest::Response {
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid email",
        &pkce,
        &[("login_hint", ERIN)],
    );
    let to_login = browser.get(&url).await;
    let to_partner = browser.get(&location(&to_login).unwrap()).await;
    let back = browser.get(&location(&to_partner).unwrap()).await;
    browser.get(&location(&back).unwrap()).await
}

#[tokio::test]
async fn a_partner_that_takes_only_client_secret_post_federates() {
    let world = World::new().await;
    let (op, created) = secret_post_partner(&world).await;
    assert_eq!(
        created["clientAuthentication"], "client_secret_post",
        "chosen from the partner's discovery"
    );
    let token = world.backend_token().await;
    let invited = world.invite_to_app(&token, ERIN).await;
    let done = to_partner_and_back(&world, &op, 1).await;
    assert_eq!(
        location(&done).as_deref(),
        Some(format!("{APP_ORIGIN}/welcome").as_str()),
        "redeemed; the partner refused: {:?}",
        op.refusals()
    );
    assert!(op.refusals().is_empty(), "{:?}", op.refusals());
    let guest = invited["invitedUser"]["id"].as_str().unwrap();
    let identities = world.app.state.store.identities(guest).await.unwrap();
    assert_eq!(identities[0].issuer, op.issuer());

    // The partner really refuses HTTP Basic: an administrator who forces it gets nothing.
    let id = created["id"].as_str().unwrap();
    let path = format!("identity/identityProviders/{id}");
    let (status, body) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"clientAuthentication": "client_secret_basic"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let refused = sign_in_later(&world).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("could not be verified")
    );
    assert_eq!(
        op.refusals(),
        vec!["HTTP Basic client authentication is not accepted".to_owned()]
    );
    let (_, list) = world
        .call(
            Method::GET,
            "identity/identityProviders",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        list["value"][0]["clientAuthentication"],
        "client_secret_basic"
    );
    let (status, _) = world
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"clientAuthentication": "client_secret_post"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let again = sign_in_later(&world).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "signed in again");
    assert_eq!(op.exchanges(), 2);
}

#[tokio::test]
async fn a_partner_that_takes_only_private_key_jwt_verifies_gatehouses_assertion_against_its_jwks()
{
    let world = World::new().await;
    let jwks_uri = format!("{}/oauth2/jwks", world.issuer());
    let op = PartnerOp::start(Takes::PrivateKeyJwt, &jwks_uri).await;
    // With a secret the partner cannot use: refused at registration, saying why.
    let (status, refused) = register(
        &world,
        &op,
        json!({"clientSecret": "a secret nobody asked for"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("without a client secret"),
        "{refused}"
    );
    let (status, created) = register(&world, &op, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["clientAuthentication"], "private_key_jwt");
    let token = world.backend_token().await;
    world.invite_to_app(&token, ERIN).await;
    let done = to_partner_and_back(&world, &op, 1).await;
    assert_eq!(
        location(&done).as_deref(),
        Some(format!("{APP_ORIGIN}/welcome").as_str()),
        "redeemed; the partner refused: {:?}",
        op.refusals()
    );
    // Later sign-ins send a fresh assertion each time (the partner refuses a replayed jti).
    let later = sign_in_later(&world).await;
    assert_eq!(later.status(), StatusCode::SEE_OTHER, "{:?}", op.refusals());
    assert!(op.refusals().is_empty(), "{:?}", op.refusals());
    let assertions = op.state.assertions.lock().unwrap().clone();
    assert_eq!(assertions.len(), 2);
    let (header, claims) = &assertions[0];
    assert_eq!(claims["aud"], format!("{}/token", op.issuer()));
    assert_eq!(claims["iss"], op.state.client_id);
    assert_ne!(claims["jti"], assertions[1].1["jti"]);
    assert_eq!(header["alg"], "RS256");
    // The key is one Gatehouse's JWKS publishes (the partner fetched it from there).
    let jwks: Value = world
        .app
        .api()
        .get(&jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "{jwks}"
    );
    // A new secret for a partner that takes none is refused (its discovery says so).
    let id = created["id"].as_str().unwrap();
    let (status, body) = world
        .call(
            Method::PATCH,
            &format!("identity/identityProviders/{id}"),
            Some(&token),
            Some(json!({"clientSecret": "rotated"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn email_verified_as_the_string_true_counts_and_other_strings_do_not() {
    let world = World::new().await;
    let (op, _) = secret_post_partner(&world).await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, ERIN).await;
    // "false" is false: the invited address is not confirmed.
    op.set_email_verified(json!("false"));
    let unconfirmed = to_partner_and_back(&world, &op, 1).await;
    assert_eq!(unconfirmed.status(), StatusCode::FORBIDDEN);
    assert!(
        unconfirmed
            .text()
            .await
            .unwrap()
            .contains("did not confirm")
    );
    // Any other spelling is not a boolean: the ID token is refused as unreadable.
    op.set_email_verified(json!("TRUE"));
    let unreadable = to_partner_and_back(&world, &op, 1).await;
    assert_eq!(unreadable.status(), StatusCode::FORBIDDEN);
    assert!(
        unreadable
            .text()
            .await
            .unwrap()
            .contains("could not be verified")
    );
    // "true", exactly, is true.
    op.set_email_verified(json!("true"));
    let done = to_partner_and_back(&world, &op, 1).await;
    assert_eq!(
        location(&done).as_deref(),
        Some(format!("{APP_ORIGIN}/welcome").as_str())
    );
}

/// Runs the `gatehouse` CLI on the world's storage with `stdin`; returns (success, stdout JSON
/// or Null, stderr).
async fn cli(world: &World, args: &[&str], stdin: Option<&str>) -> (bool, Value, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .envs(world.app.backing().env())
        .env("GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS", "true")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(stdin) = stdin {
        input.write_all(stdin.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    (
        output.status.success(),
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_chooses_the_client_authentication_from_discovery_and_changes_it() {
    let world = World::new().await;
    let jwks_uri = format!("{}/oauth2/jwks", world.issuer());
    let post = PartnerOp::start(Takes::SecretPost, &jwks_uri).await;
    let jwt = PartnerOp::start(Takes::PrivateKeyJwt, &jwks_uri).await;
    let create = |op: &PartnerOp, name: &str, domain: &str| {
        vec![
            "partner".to_owned(),
            "create".into(),
            "--tenant".into(),
            "contoso".into(),
            "--name".into(),
            name.into(),
            "--issuer".into(),
            op.issuer().into(),
            "--client-id".into(),
            op.state.client_id.clone(),
            "--domain".into(),
            domain.into(),
            "--attest-domains".into(),
        ]
    };
    let args = create(&jwt, "Fabrikam", DOMAIN);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, created, stderr) = cli(&world, &args, None).await;
    assert!(ok, "{stderr}");
    assert_eq!(created["clientAuthentication"], "private_key_jwt");

    let mut args = create(&post, "Tailspin", "tailspin.example");
    args.push("--client-secret-stdin".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, created, stderr) = cli(&world, &args, Some("partner secret\n")).await;
    assert!(ok, "{stderr}");
    assert_eq!(created["clientAuthentication"], "client_secret_post");
    let id = created["id"].as_str().unwrap();
    let update = |method: &'static str| {
        vec![
            "partner",
            "update",
            "--tenant",
            "contoso",
            "--id",
            id,
            "--client-auth",
            method,
        ]
    };
    let (ok, updated, stderr) = cli(&world, &update("client_secret_basic"), None).await;
    assert!(ok, "{stderr}");
    assert_eq!(updated["clientAuthentication"], "client_secret_basic");
    let (ok, _, stderr) = cli(&world, &update("client_secret_jwt"), None).await;
    assert!(
        !ok && stderr.contains("unknown client authentication"),
        "{stderr}"
    );
    // private_key_jwt sends no secret: the stored one is forgotten, and a secret-based
    // method cannot come back without a new one.
    let (ok, updated, stderr) = cli(&world, &update("private_key_jwt"), None).await;
    assert!(ok, "{stderr}");
    assert_eq!(updated["clientAuthentication"], "private_key_jwt");
    let partner = world
        .app
        .state
        .store
        .partner(&world.tenant.id, id)
        .await
        .unwrap();
    assert!(partner.sealed_client_secret.is_none());
    let (ok, _, stderr) = cli(&world, &update("client_secret_post"), None).await;
    assert!(!ok && stderr.contains("needs clientSecret"), "{stderr}");
}

#[tokio::test]
async fn a_partner_that_rotates_its_key_is_refetched_and_a_key_it_never_published_is_refused() {
    let world = World::new().await;
    let (op, _) = secret_post_partner(&world).await;
    let token = world.backend_token().await;
    world.invite_to_app(&token, ERIN).await;
    let done = to_partner_and_back(&world, &op, 1).await;
    assert_eq!(
        location(&done).as_deref(),
        Some(format!("{APP_ORIGIN}/welcome").as_str()),
        "redeemed"
    );
    // The partner rotates: Gatehouse's cached keys lack the new kid, so it fetches them
    // again and the sign-in goes through.
    op.rotate_key("partner-key-2");
    let later = sign_in_later(&world).await;
    assert_eq!(
        later.status(),
        StatusCode::SEE_OTHER,
        "signed in after the rotation"
    );
    // A token signed by a key the partner never published (naming a kid it did publish)
    // verifies neither with the cached keys nor with freshly fetched ones.
    op.forge_with_unpublished_key("partner-key-2");
    let forged = sign_in_later(&world).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("could not be verified")
    );
    assert_eq!(op.exchanges(), 3);
}
