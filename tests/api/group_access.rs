//! What groups decide: an owner changes the members of their own group (guests they invited
//! included) with a delegated token and no Group permission, and membership through nested
//! groups admits to an app that requires assignment until a member leaves — the next refresh
//! is refused at once.

use gatehouse::services::admin::AppInput;
use gatehouse::services::admin::assignments::{Assignee, assign};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{ADMIN, ADMIN_PASSWORD, SLUG, World};
use crate::groups::{PASSWORD, add_member, group, ids, member, reference};
use crate::helpers::Client;

#[tokio::test]
async fn an_owner_changes_the_members_of_their_group_without_group_permissions() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let olga = member(&world, "olga@contoso.example").await;
    let mine = group(&world, &token, "Olga's partners").await;
    let other = group(&world, &token, "Someone else's").await;
    let (status, _) = world
        .call(
            Method::POST,
            &format!("groups/{mine}/owners/$ref"),
            Some(&token),
            Some(reference(&world, "users", &olga.id)),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A guest invited into the tenant.
    let (status, invited) = world
        .invite(&token, json!({ "invitedUserEmailAddress": "gus@fabrikam.example", "inviteRedirectUrl": "https://app.contoso.example/", "sendInvitationMessage": false }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let guest = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    // Olga's token carries no Group permission (and she holds no role).
    let olga_token = world
        .user_token("olga@contoso.example", PASSWORD, "openid")
        .await;
    let (status, body) = add_member(&world, &olga_token, &mine, "users", &guest).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, list) = world
        .call(
            Method::GET,
            &format!("groups/{mine}/members"),
            Some(&olga_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), vec![guest.clone()]);
    let (status, _) = add_member(&world, &olga_token, &other, "users", &guest).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .call(
            Method::PATCH,
            &format!("groups/{mine}"),
            Some(&olga_token),
            Some(json!({ "displayName": "Renamed" })),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "owning a group is not Group.ReadWrite.All"
    );
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("groups/{mine}/members/{guest}/$ref"),
            Some(&olga_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The admin's delegated token works through her role and scope.
    let admin = world
        .user_token(ADMIN, ADMIN_PASSWORD, "openid GroupMember.ReadWrite.All")
        .await;
    let (status, body) = add_member(&world, &admin, &other, "users", &guest).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn assignment_through_a_nested_group_admits_and_removing_the_member_refuses_the_next_refresh()
{
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let (client_id, secret) = world
        .app
        .app(AppInput {
            tenant: SLUG.into(),
            name: "Payroll".into(),
            redirect_uris: vec!["https://payroll.example/cb".into()],
            assignment_required: true,
            ..Default::default()
        })
        .await;
    let payroll = Client {
        client_id,
        secret,
        redirect_uri: "https://payroll.example/cb".into(),
    };
    let inner = group(&world, &token, "Clerks").await;
    let outer = group(&world, &token, "Finance").await;
    add_member(&world, &token, &inner, "users", &ann.id).await;
    let (status, _) = add_member(&world, &token, &outer, "groups", &inner).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assign(
        world.app.state.store.as_ref(),
        SLUG,
        &payroll.client_id,
        &Assignee::Group(outer.clone()),
    )
    .await
    .unwrap();
    let tokens = world
        .app
        .sign_in_and_redeem(
            SLUG,
            &payroll,
            "ann@contoso.example",
            PASSWORD,
            "openid offline_access",
        )
        .await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let response = world
        .app
        .token(
            SLUG,
            &payroll,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated: Value = response.json().await.unwrap();
    let refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    // Ann leaves the inner group: the next refresh is refused at once.
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("groups/{inner}/members/{}/$ref", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let response = world
        .app
        .token(
            SLUG,
            &payroll,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
}
