//! UserInfo, discovery and tenant isolation (SECURITY.md D.39–D.42).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, jwt_parts};

const REDIRECT: &str = "https://rp.example/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

async fn signed_in(scope: &str) -> (TestApp, Value) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    let tokens = app
        .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, scope)
        .await;
    (app, tokens)
}

fn userinfo_url(app: &TestApp, slug: &str) -> String {
    format!("{}/oauth2/userinfo", app.issuer(slug))
}

#[tokio::test]
async fn userinfo_answers_get_and_post_with_the_id_token_subject() {
    let (app, tokens) = signed_in("openid email").await;
    let access = tokens["access_token"].as_str().unwrap();
    let sub = jwt_parts(tokens["id_token"].as_str().unwrap()).1["sub"].clone();
    let get = app
        .api()
        .get(userinfo_url(&app, "contoso"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let post = app
        .api()
        .post(userinfo_url(&app, "contoso"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let body = app
        .api()
        .post(userinfo_url(&app, "contoso"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    for response in [get, post, body] {
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let claims: Value = response.json().await.unwrap();
        assert_eq!(claims["sub"], sub);
        assert_eq!(claims["email"], EMAIL);
        assert!(claims.get("name").is_none(), "no profile scope, no name");
    }
}

#[tokio::test]
async fn tokens_in_the_query_or_invalid_tokens_are_refused() {
    let (app, tokens) = signed_in("openid").await;
    let access = tokens["access_token"].as_str().unwrap();
    let response = app
        .api()
        .get(format!(
            "{}?access_token={access}",
            userinfo_url(&app, "contoso")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    for token in [
        "garbage",
        &format!("{access}x"),
        tokens["id_token"].as_str().unwrap(),
    ] {
        let response = app
            .api()
            .get(userinfo_url(&app, "contoso"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let response = app
        .api()
        .get(userinfo_url(&app, "contoso"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
}

#[tokio::test]
async fn an_alg_none_token_is_refused() {
    let (app, tokens) = signed_in("openid").await;
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let forged = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "at+jwt"})),
        b64(&claims)
    );
    let response = app
        .api()
        .get(userinfo_url(&app, "contoso"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_of_tenant_a_is_worthless_at_tenant_b() {
    let (app, tokens) = signed_in("openid").await;
    app.tenant("fabrikam").await;
    let access = tokens["access_token"].as_str().unwrap();
    let response = app
        .api()
        .get(userinfo_url(&app, "fabrikam"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let backend = app.service_app("fabrikam", "RS256").await;
    let response = app
        .api()
        .post(format!("{}/oauth2/introspect", app.issuer("fabrikam")))
        .basic_auth(&backend.client_id, backend.secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"active": false})
    );
}

#[tokio::test]
async fn discovery_names_working_endpoints_and_the_jwks_has_only_public_unique_keys() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    let metadata = app.discovery("contoso").await;
    let issuer = app.issuer("contoso");
    assert_eq!(metadata["issuer"], issuer);
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        metadata["response_types_supported"],
        serde_json::json!(["code"])
    );
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
    ] {
        let url = metadata[field].as_str().unwrap();
        assert!(url.starts_with(&issuer), "{field}");
        let response = app.api().get(url).send().await.unwrap();
        assert_ne!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{field} must exist"
        );
        assert_ne!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{field}"
        );
    }
    let rfc8414: Value = app
        .api()
        .get(format!(
            "{}/.well-known/oauth-authorization-server/contoso",
            app.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414, metadata);
    let jwks: Value = app
        .api()
        .get(metadata["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "RS256 and ES256, each active + next");
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.dedup();
    assert_eq!(kids.len(), 4);
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
    let unknown = app
        .api()
        .get(format!(
            "{}/nope/.well-known/openid-configuration",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_spoofed_host_header_never_changes_the_issuer() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    let metadata: Value = app
        .api()
        .get(format!(
            "{}/contoso/.well-known/openid-configuration",
            app.base
        ))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], app.issuer("contoso"));
}
