//! Users through the admin API: `PATCH` (profile, usage location, userType, accountEnabled,
//! a password for members), `revokeSignInSessions`, deleting any user but oneself, and
//! `convertExternalToInternalMemberUser` — each ending refresh tokens where it should, and
//! audited with Entra's activity names.

use gatehouse::services::admin::UserInput;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{ADMIN, ADMIN_PASSWORD, SLUG, World};

const PASSWORD: &str = "a member's long password";
const NEW_PASSWORD: &str = "a brand new long password";

async fn member(world: &World, email: &str) -> gatehouse::domain::user::User {
    gatehouse::services::admin::create_user(
        world.app.state.store.as_ref(),
        &world.app.state.passwords,
        UserInput {
            tenant: SLUG.into(),
            email: email.into(),
            name: email.into(),
            password: Some(PASSWORD.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Signs `email` in to the web app; returns its refresh token.
async fn refresh_token(world: &World, email: &str, password: &str) -> String {
    let tokens = world
        .app
        .sign_in_and_redeem(SLUG, &world.web, email, password, "openid offline_access")
        .await;
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

/// Redeems a refresh token at the web app; returns the status.
async fn refresh(world: &World, token: &str) -> StatusCode {
    world
        .app
        .token(
            SLUG,
            &world.web,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
        .status()
}

async fn patch(world: &World, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    world
        .call(
            Method::PATCH,
            &format!("users/{id}"),
            Some(token),
            Some(body),
        )
        .await
}

async fn activities(world: &World, token: &str) -> Vec<String> {
    let (_, body) = world
        .call(
            Method::GET,
            "auditLogs/directoryAudits?$top=999",
            Some(token),
            None,
        )
        .await;
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["activityDisplayName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn patch_changes_the_profile_and_type_and_refuses_what_it_cannot_take() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let (status, body) = patch(
        &world,
        &token,
        &ann.id,
        json!({ "displayName": "Ann Other", "givenName": "Ann", "surname": "Other", "jobTitle": "Clerk", "usageLocation": "fr" }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, read) = world
        .call(
            Method::GET,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read["displayName"], "Ann Other");
    assert_eq!(read["surname"], "Other");
    assert_eq!(read["jobTitle"], "Clerk");
    assert_eq!(read["usageLocation"], "FR");
    let (status, _) = patch(
        &world,
        &token,
        &ann.id,
        json!({ "jobTitle": null, "userType": "Guest" }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = world
        .call(
            Method::GET,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read["jobTitle"], Value::Null);
    assert_eq!(read["userType"], "Guest");
    assert_eq!(
        read["userPrincipalName"], "ann@contoso.example",
        "the type only changes"
    );
    // She still signs in with her password as before.
    refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    for bad in [
        json!({ "usageLocation": "France" }),
        json!({ "userType": "Admin" }),
        json!({ "displayName": null }),
        json!({ "accountEnabled": "no" }),
        json!({ "mail": "x@contoso.example" }),
        json!({ "passwordProfile": { "password": "short" } }),
        json!({ "passwordProfile": { "password": NEW_PASSWORD, "forceChangePasswordNextSignIn": true } }),
    ] {
        let (status, error) = patch(&world, &token, &ann.id, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
        assert_eq!(error["error"]["code"], "Request_BadRequest");
        assert!(!error.to_string().contains(NEW_PASSWORD), "never echoed");
    }
    let (status, _) = patch(&world, &token, "no-such-user", json!({ "jobTitle": "x" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let reader = world
        .app
        .token(
            SLUG,
            &world.backend,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "User.Read.All"),
            ],
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let (status, _) = patch(
        &world,
        reader["access_token"].as_str().unwrap(),
        &ann.id,
        json!({ "jobTitle": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        activities(&world, &token)
            .await
            .iter()
            .any(|a| a == "Update user")
    );
}

#[tokio::test]
async fn a_new_password_works_and_ends_the_old_refresh_tokens() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let old = refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    let (status, body) = patch(
        &world,
        &token,
        &ann.id,
        json!({ "passwordProfile": { "password": NEW_PASSWORD, "forceChangePasswordNextSignIn": false } }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(refresh(&world, &old).await, StatusCode::BAD_REQUEST);
    let fresh = refresh_token(&world, "ann@contoso.example", NEW_PASSWORD).await;
    assert_eq!(refresh(&world, &fresh).await, StatusCode::OK);
    // A guest signs in elsewhere: no password here.
    let (status, invited) = world
        .invite(&token, json!({ "invitedUserEmailAddress": "gus@fabrikam.example", "inviteRedirectUrl": "https://app.contoso.example/", "sendInvitationMessage": false }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let guest = invited["invitedUser"]["id"].as_str().unwrap();
    let (status, error) = patch(
        &world,
        &token,
        guest,
        json!({ "passwordProfile": { "password": NEW_PASSWORD } }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        activities(&world, &token)
            .await
            .iter()
            .any(|a| a == "Reset user password")
    );
}

#[tokio::test]
async fn revoking_sign_in_sessions_ends_the_refresh_token() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let held = refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    let (status, body) = world
        .call(
            Method::POST,
            &format!("users/{}/revokeSignInSessions", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], true);
    assert_eq!(refresh(&world, &held).await, StatusCode::BAD_REQUEST);
    // She can sign in again; only what she held before ended.
    let fresh = refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    assert_eq!(refresh(&world, &fresh).await, StatusCode::OK);
    let (status, _) = world
        .call(
            Method::POST,
            "users/no-such-user/revokeSignInSessions",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        activities(&world, &token)
            .await
            .iter()
            .any(|a| a == "Invalidate all refresh tokens for user")
    );
}

#[tokio::test]
async fn disabling_ends_the_refresh_token_and_enabling_lets_the_user_back_in() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let held = refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    let (status, _) = patch(&world, &token, &ann.id, json!({ "accountEnabled": false })).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&world, &held).await, StatusCode::BAD_REQUEST);
    let (_, read) = world
        .call(
            Method::GET,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read["accountEnabled"], false);
    let (status, _) = patch(&world, &token, &ann.id, json!({ "accountEnabled": true })).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let fresh = refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    assert_eq!(refresh(&world, &fresh).await, StatusCode::OK);
    // An administrator cannot disable or delete themself.
    let admin = world
        .user_token(ADMIN, ADMIN_PASSWORD, "openid User.ReadWrite.All")
        .await;
    let (status, _) = patch(
        &world,
        &admin,
        &world.admin.id,
        json!({ "accountEnabled": false }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("users/{}", world.admin.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let list = activities(&world, &token).await;
    assert!(list.iter().any(|a| a == "Disable account"), "{list:?}");
    assert!(list.iter().any(|a| a == "Enable account"), "{list:?}");
}

#[tokio::test]
async fn any_user_is_deleted_with_their_refresh_tokens() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let held = refresh_token(&world, "ann@contoso.example", PASSWORD).await;
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&world, &held).await, StatusCode::BAD_REQUEST);
    let (status, _) = world
        .call(
            Method::GET,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        activities(&world, &token)
            .await
            .iter()
            .any(|a| a == "Delete user")
    );
}

#[tokio::test]
async fn an_external_user_is_converted_to_an_internal_member() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (status, invited) = world
        .invite(&token, json!({ "invitedUserEmailAddress": "gus@fabrikam.example", "inviteRedirectUrl": "https://app.contoso.example/", "sendInvitationMessage": false }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let guest = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    let path = format!("users/{guest}/convertExternalToInternalMemberUser");
    // The UPN must be in one of the tenant's verified domains.
    let (status, error) = world
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({ "userPrincipalName": "gus@fabrikam.example" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, error) = world
        .call(Method::POST, &path, Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, body) = world
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({ "userPrincipalName": "gus@contoso.example", "passwordProfile": { "password": NEW_PASSWORD, "forceChangePasswordNextSignIn": false } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userPrincipalName"], "gus@contoso.example");
    assert_eq!(body["mail"], "gus@contoso.example");
    assert!(body["convertedToInternalUserDateTime"].is_string());
    assert!(!body.to_string().contains(NEW_PASSWORD));
    let (_, user) = world
        .call(Method::GET, &format!("users/{guest}"), Some(&token), None)
        .await;
    assert_eq!(user["id"], guest.as_str(), "the object id stays");
    assert_eq!(user["userType"], "Member");
    assert_eq!(user["creationType"], Value::Null);
    assert_eq!(user["externalUserState"], Value::Null);
    let identities = user["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 1, "{user}");
    assert_eq!(identities[0]["signInType"], "userPrincipalName");
    // Gus now signs in here with his new name and password.
    let held = refresh_token(&world, "gus@contoso.example", NEW_PASSWORD).await;
    assert_eq!(refresh(&world, &held).await, StatusCode::OK);
    // Once internal, there is nothing to convert.
    let (status, _) = world
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({ "userPrincipalName": "gus2@contoso.example" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Someone else's address is a conflict.
    let (_, other) = world
        .invite(&token, json!({ "invitedUserEmailAddress": "hal@fabrikam.example", "inviteRedirectUrl": "https://app.contoso.example/", "sendInvitationMessage": false }))
        .await;
    let other = other["invitedUser"]["id"].as_str().unwrap();
    let (status, _) = world
        .call(
            Method::POST,
            &format!("users/{other}/convertExternalToInternalMemberUser"),
            Some(&token),
            Some(json!({ "userPrincipalName": "gus@contoso.example" })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        activities(&world, &token)
            .await
            .iter()
            .any(|a| a == "Convert external user to internal user")
    );
}

#[tokio::test]
async fn a_read_write_permission_also_reads_as_in_graph() {
    let world = World::new().await;
    let ann = member(&world, "ann@contoso.example").await;
    // An app-only token downscoped to User.ReadWrite.All alone.
    let response = world
        .app
        .token(
            SLUG,
            &world.backend,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "User.ReadWrite.All"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, read) = world
        .call(
            Method::GET,
            &format!("users/{}", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["id"], json!(ann.id));
    let (status, _) = world.call(Method::GET, "users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    // It does not reach what it does not include: the audit log.
    let (status, body) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
