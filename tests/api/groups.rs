//! Groups through the admin API: create, read, change, list, delete; members (users and
//! nested groups) and owners with Graph's `$ref`; `memberOf` / `transitiveMemberOf`; nesting
//! resolved to 8 levels with cycles refused. (Owners' rights and access through groups are in
//! `group_access`.)

use gatehouse::services::admin::UserInput;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{SLUG, World};

pub(crate) const PASSWORD: &str = "a member's long password";

pub(crate) async fn member(world: &World, email: &str) -> gatehouse::domain::user::User {
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

/// Creates a group through the API; returns its id.
pub(crate) async fn group(world: &World, token: &str, name: &str) -> String {
    let (status, body) = world
        .call(
            Method::POST,
            "groups",
            Some(token),
            Some(json!({ "displayName": name, "mailEnabled": false, "mailNickname": "x", "securityEnabled": true })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) fn reference(world: &World, kind: &str, id: &str) -> Value {
    json!({ "@odata.id": format!("{}/v1.0/{kind}/{id}", world.issuer()) })
}

pub(crate) async fn add_member(
    world: &World,
    token: &str,
    group: &str,
    kind: &str,
    id: &str,
) -> (StatusCode, Value) {
    world
        .call(
            Method::POST,
            &format!("groups/{group}/members/$ref"),
            Some(token),
            Some(reference(world, kind, id)),
        )
        .await
}

async fn audit_activities(world: &World, token: &str) -> Vec<String> {
    let (status, body) = world
        .call(
            Method::GET,
            "auditLogs/directoryAudits?$top=999",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["activityDisplayName"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn ids(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn groups_are_created_read_changed_listed_and_deleted_and_audited() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (status, created) = world
        .call(
            Method::POST,
            "groups",
            Some(&token),
            Some(json!({ "displayName": "Payroll clerks", "description": "Who runs payroll", "mailEnabled": false, "mailNickname": "payroll", "securityEnabled": true, "groupTypes": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    for field in [
        "id",
        "displayName",
        "description",
        "securityEnabled",
        "mailEnabled",
        "groupTypes",
        "createdDateTime",
    ] {
        assert!(created.get(field).is_some(), "{field} in {created}");
    }
    assert_eq!(created["mailEnabled"], false);
    assert_eq!(created["groupTypes"], json!([]));
    let id = created["id"].as_str().unwrap();
    let (status, body) = world
        .call(
            Method::PATCH,
            &format!("groups/{id}"),
            Some(&token),
            Some(json!({ "displayName": "Payroll team", "description": null, "securityEnabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, read) = world
        .call(Method::GET, &format!("groups/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["displayName"], "Payroll team");
    assert_eq!(read["description"], Value::Null);
    assert_eq!(read["securityEnabled"], false);
    // A list pages like the others.
    group(&world, &token, "Auditors").await;
    let (status, page) = world
        .call(Method::GET, "groups?$top=1", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    assert_eq!(page["value"][0]["displayName"], "Auditors");
    let next = page["@odata.nextLink"].as_str().expect("a next link");
    let rest: Value = world
        .app
        .api()
        .get(next)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["value"][0]["displayName"], "Payroll team");
    assert!(rest.get("@odata.nextLink").is_none());
    // Bad bodies say why.
    for bad in [
        json!({ "description": "no name" }),
        json!({ "displayName": "U", "groupTypes": ["Unified"] }),
        json!({ "displayName": "M", "mailEnabled": true }),
        json!({ "displayName": "X", "surprise": 1 }),
        json!({ "displayName": "" }),
        json!({ "displayName": "B", "members@odata.bind": [] }),
    ] {
        let (status, error) = world
            .call(Method::POST, "groups", Some(&token), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
        assert_eq!(error["error"]["code"], "Request_BadRequest");
    }
    // Without the permission: 403; unknown: 404.
    let plain = world.app.service_app(SLUG, "RS256").await;
    let plain = world.app_token(&plain).await;
    let (status, _) = world.call(Method::GET, "groups", Some(&plain), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .call(
            Method::POST,
            "groups",
            Some(&plain),
            Some(json!({ "displayName": "N" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .call(Method::GET, "groups/no-such-group", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = world
        .call(Method::DELETE, &format!("groups/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = world
        .call(Method::GET, &format!("groups/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = world
        .call(Method::DELETE, &format!("groups/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let activities = audit_activities(&world, &token).await;
    for activity in ["Add group", "Update group", "Delete group"] {
        assert!(
            activities.iter().any(|a| a == activity),
            "{activity} in {activities:?}"
        );
    }
}

#[tokio::test]
async fn members_and_owners_are_added_and_removed_by_reference() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    let ben = member(&world, "ben@contoso.example").await;
    let team = group(&world, &token, "Team").await;
    let inner = group(&world, &token, "Inner").await;
    let (status, body) = add_member(&world, &token, &team, "directoryObjects", &ann.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = add_member(&world, &token, &team, "users", &ben.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = add_member(&world, &token, &team, "groups", &inner).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Again: Graph's 400.
    let (status, error) = add_member(&world, &token, &team, "directoryObjects", &ann.id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("One or more added object references already exist"),
        "{error}"
    );
    // Unknown, or of another tenant: 404; a user named as a group: 404; a bad reference: 400.
    world.app.tenant("fabrikam").await;
    let stranger = world
        .app
        .user("fabrikam", "sam@fabrikam.example", PASSWORD)
        .await;
    for id in ["no-such-object", stranger.id.as_str()] {
        let (status, _) = add_member(&world, &token, &team, "directoryObjects", id).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    let (status, _) = add_member(&world, &token, &team, "groups", &ann.id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = world
        .call(
            Method::POST,
            &format!("groups/{team}/members/$ref"),
            Some(&token),
            Some(json!({ "@odata.id": "https://elsewhere/things/1" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = add_member(&world, &token, "no-such-group", "users", &ann.id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The list names each kind.
    let (status, list) = world
        .call(
            Method::GET,
            &format!("groups/{team}/members"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let kinds: Vec<(String, String)> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["@odata.type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{list}");
    assert!(kinds.contains(&(ann.id.clone(), "#microsoft.graph.user".into())));
    assert!(kinds.contains(&(inner.clone(), "#microsoft.graph.group".into())));
    let (_, page) = world
        .call(
            Method::GET,
            &format!("groups/{team}/members?$top=2"),
            Some(&token),
            None,
        )
        .await;
    assert!(page["@odata.nextLink"].is_string(), "{page}");
    // memberOf.
    let (status, of) = world
        .call(
            Method::GET,
            &format!("users/{}/memberOf", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&of), vec![team.clone()]);
    let (status, _) = world
        .call(
            Method::GET,
            "users/no-such-user/memberOf",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Removal.
    let path = format!("groups/{team}/members/{}/$ref", ben.id);
    let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Owners: users only, once each.
    let owners = format!("groups/{team}/owners/$ref");
    let (status, body) = world
        .call(
            Method::POST,
            &owners,
            Some(&token),
            Some(reference(&world, "directoryObjects", &ben.id)),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = world
        .call(
            Method::POST,
            &owners,
            Some(&token),
            Some(reference(&world, "directoryObjects", &ben.id)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = world
        .call(
            Method::POST,
            &owners,
            Some(&token),
            Some(reference(&world, "groups", &inner)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = world
        .call(
            Method::POST,
            &owners,
            Some(&token),
            Some(reference(&world, "directoryObjects", &stranger.id)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = world
        .call(
            Method::GET,
            &format!("groups/{team}/owners"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&list), vec![ben.id.clone()]);
    let path = format!("groups/{team}/owners/{}/$ref", ben.id);
    let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Deleting a group takes its memberships along.
    let (status, _) = world
        .call(
            Method::DELETE,
            &format!("groups/{team}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, of) = world
        .call(
            Method::GET,
            &format!("users/{}/memberOf", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert!(ids(&of).is_empty(), "{of}");
    let activities = audit_activities(&world, &token).await;
    for activity in [
        "Add member to group",
        "Remove member from group",
        "Add owner to group",
        "Remove owner from group",
    ] {
        assert!(
            activities.iter().any(|a| a == activity),
            "{activity} in {activities:?}"
        );
    }
}

#[tokio::test]
async fn nesting_resolves_through_eight_levels_and_refuses_cycles_and_deeper_chains() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let ann = member(&world, "ann@contoso.example").await;
    // level[0] holds Ann; level[i] is a member of level[i + 1].
    let mut levels = Vec::new();
    for n in 1..=8 {
        levels.push(group(&world, &token, &format!("Level {n}")).await);
    }
    let (status, _) = add_member(&world, &token, &levels[0], "users", &ann.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for pair in levels.windows(2) {
        let (status, body) = add_member(&world, &token, &pair[1], "groups", &pair[0]).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (_, direct) = world
        .call(
            Method::GET,
            &format!("users/{}/memberOf", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ids(&direct), vec![levels[0].clone()]);
    let (status, all) = world
        .call(
            Method::GET,
            &format!("users/{}/transitiveMemberOf", ann.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let mut found = ids(&all);
    found.sort();
    let mut expected = levels.clone();
    expected.sort();
    assert_eq!(found, expected);
    // The services see the same, with the kind of each group.
    let store = world.app.state.store.as_ref();
    let seen = gatehouse::services::membership::groups_of_user(store, &ann.id)
        .await
        .unwrap();
    assert_eq!(seen, expected);
    let kinds = gatehouse::services::membership::groups_with_kinds(store, &ann.id)
        .await
        .unwrap();
    assert_eq!(kinds.len(), 8);
    assert!(kinds.iter().all(|k| k.security_enabled));
    // A ninth level, above or below, is refused; so is any cycle.
    let ninth = group(&world, &token, "Level 9").await;
    let (status, error) = add_member(&world, &token, &ninth, "groups", &levels[7]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("8 levels"),
        "{error}"
    );
    let (status, _) = add_member(&world, &token, &levels[0], "groups", &ninth).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, error) = add_member(&world, &token, &levels[0], "groups", &levels[5]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cycle"),
        "{error}"
    );
    let (status, error) = add_member(&world, &token, &levels[3], "groups", &levels[3]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("itself"),
        "{error}"
    );
    // Removing a link in the chain cuts what lies above it.
    let path = format!("groups/{}/members/{}/$ref", levels[4], levels[3]);
    let (status, _) = world.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let seen = gatehouse::services::membership::groups_of_user(store, &ann.id)
        .await
        .unwrap();
    assert_eq!(seen.len(), 4);
    // A group that is not a security group says so.
    let (status, _) = world
        .call(
            Method::PATCH,
            &format!("groups/{}", levels[1]),
            Some(&token),
            Some(json!({ "securityEnabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let kinds = gatehouse::services::membership::groups_with_kinds(store, &ann.id)
        .await
        .unwrap();
    let flag = kinds.iter().find(|k| k.id == levels[1]).unwrap();
    assert!(!flag.security_enabled);
}
