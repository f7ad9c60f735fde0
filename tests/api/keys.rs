//! Key rotation (SECURITY.md D.43, R7): a key is published before it signs, the old key stays
//! published after, and a running node follows a rotation made by the CLI without a restart.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backing, Client, TestApp, jwt_parts, verify_with_jwks};

async fn token(app: &TestApp, client: &Client) -> String {
    let response = app
        .token("contoso", client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn jwks_kids(app: &TestApp) -> HashSet<String> {
    let jwks: Value = app
        .api()
        .get(format!("{}/oauth2/jwks", app.issuer("contoso")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_cli_rotation_is_followed_by_the_running_node_without_breaking_old_tokens() {
    let app = TestApp::spawn_with(|c| c.keys.jwks_max_age = 2).await;
    app.tenant("contoso").await;
    let client = app.service_app("contoso", "RS256").await;
    let before = token(&app, &client).await;
    let old_kid = jwt_parts(&before).0["kid"].as_str().unwrap().to_owned();
    let published_before = jwks_kids(&app).await;

    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["keys", "rotate"])
        .envs(app.backing().env())
        .env("GATEHOUSE_KEYS__JWKS_MAX_AGE", "2")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rs = report["rotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alg"] == "RS256")
        .unwrap()
        .clone();
    assert_eq!(rs["retired_kid"], old_kid);
    let new_kid = rs["activated_kid"].as_str().unwrap().to_owned();
    assert!(
        published_before.contains(&new_kid),
        "the key that takes over was published before the rotation"
    );

    // The node notices within its refresh interval and switches at the activation time.
    let mut switched = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let kid = jwt_parts(&token(&app, &client).await).0["kid"]
            .as_str()
            .unwrap()
            .to_owned();
        if kid == new_kid {
            switched = true;
            break;
        }
        assert_eq!(kid, old_kid, "no third key signs in between");
    }
    assert!(switched, "the running node signs with the new key");
    let published_after = jwks_kids(&app).await;
    assert!(
        published_after.contains(&old_kid),
        "the retired key stays published"
    );
    assert!(published_after.contains(&new_kid));
    assert!(
        published_after.contains(rs["next_kid"].as_str().unwrap()),
        "a new next key is published"
    );
    verify_with_jwks(&app, "contoso", &before).await;
}

#[tokio::test]
async fn a_second_rotation_before_the_first_takes_effect_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.keys.jwks_max_age = 3600).await;
    app.tenant("contoso").await;
    let now = gatehouse::domain::unix_now();
    // Bootstrap keys were published just now: the first rotation is scheduled an hour ahead.
    let reports = app.state.keys.rotate(now).await.unwrap();
    assert!(
        reports.iter().all(|r| r.activates_at > now + 3500),
        "{reports:?}"
    );
    let kids = jwks_kids(&app).await;
    let error = app.state.keys.rotate(now).await.unwrap_err().to_string();
    assert!(error.contains("already scheduled"), "{error}");
    assert_eq!(jwks_kids(&app).await, kids);
}

#[tokio::test]
async fn a_jwks_is_never_cacheable_past_the_next_activation_and_back_to_back_rotations_wait() {
    // max-age 20 s, refresh interval 1 s (the test configuration).
    let app = TestApp::spawn_with(|c| c.keys.jwks_max_age = 20).await;
    app.tenant("contoso").await;
    // A rotation activates the bootstrap next key no sooner than every cache that fetched the
    // JWKS since that key was published has expired: its publication plus the max-age (the
    // publication, not the test's clock: a slow start-up under load may lie seconds before).
    let published = app.state.store.list_keys().await.unwrap();
    let now = gatehouse::domain::unix_now();
    let reports = app.state.keys.rotate(now).await.unwrap();
    for report in &reports {
        let key = published
            .iter()
            .find(|k| k.kid == report.activated_kid)
            .expect("the activated key was the published next key");
        assert!(report.activates_at >= key.created_at + 20, "{report:?}");
    }
    let response = app
        .api()
        .get(format!("{}/oauth2/jwks", app.issuer("contoso")))
        .send()
        .await
        .unwrap();
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age: i64 = cache.split("max-age=").nth(1).unwrap().parse().unwrap();
    let next = reports.iter().map(|r| r.activates_at).min().unwrap();
    assert!(
        gatehouse::domain::unix_now() + max_age <= next,
        "a cached JWKS ({cache}) expires before the activation at {next}"
    );
}

#[tokio::test]
async fn a_rotation_stamps_its_new_keys_when_they_are_stored_not_when_it_began() {
    // Found by conformance/faults (key-rotation drill): the new next key was stamped with the
    // time the rotation began, before RSA generation (seconds on a busy or debug build), so
    // it counted as visible everywhere before it was even stored and a rotation soon after
    // could make it sign while a verifier's fresh JWKS cache lacked it.
    let app = TestApp::spawn_with(|c| c.keys.jwks_max_age = 20).await;
    app.tenant("contoso").await;
    let before = gatehouse::domain::unix_now();
    // A rotation whose clock reading is a minute old, as after a slow key generation.
    let reports = app.state.keys.rotate(before - 60).await.unwrap();
    let stored = app.state.store.list_keys().await.unwrap();
    for report in &reports {
        let next = stored.iter().find(|k| k.kid == report.next_kid).unwrap();
        assert!(
            next.created_at >= before,
            "the new key is stamped {} s before it was stored",
            before - next.created_at
        );
        // The bootstrap key it activates was published just now: a full max-age ahead.
        assert!(report.activates_at >= before + 20, "{report:?}");
    }
}

/// A node knows a database is new (no migration has run on it) before it migrates it, on SQLite
/// and on Postgres: a fresh node generates its first keys while the migrations run. A database
/// migrated once is not new any more, and migrating it again changes nothing.
#[tokio::test]
async fn a_new_database_is_known_as_new_before_its_migrations_run() {
    let backing = Backing::new().await;
    let opened = gatehouse::store::sql::open(backing.database_url(), 2)
        .await
        .unwrap();
    assert!(opened.is_new(), "a database nothing has run on is new");
    let store = opened.migrate().await.unwrap();
    assert!(store.list_keys().await.unwrap().is_empty());
    drop(store);
    let again = gatehouse::store::sql::open(backing.database_url(), 2)
        .await
        .unwrap();
    assert!(!again.is_new(), "a migrated database is not new");
    again.migrate().await.unwrap();
}
