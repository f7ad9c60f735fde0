//! App-role assignments through the Graph API: `/users/{id}/appRoleAssignments`,
//! `/groups/{id}/appRoleAssignments` and `/applications/{id}/appRoleAssignedTo` (GET, POST,
//! DELETE), the role rules (enabled, allowed member type, default access only without
//! roles), the permissions, the audit log, and a deleted user's assignments going with them.

use gatehouse::domain::app_profile::{AppProfile, AppRole, RoleMemberType};
use gatehouse::domain::user::User;
use gatehouse::services::admin::{AppInput, GroupInput};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp};

pub(crate) const SLUG: &str = "contoso";
pub(crate) const APPROVER: &str = "11111111-1111-4111-8111-111111111111";
pub(crate) const READER: &str = "22222222-2222-4222-8222-222222222222";
const DAEMON: &str = "33333333-3333-4333-8333-333333333333";
const RETIRED: &str = "44444444-4444-4444-8444-444444444444";
const DEFAULT: &str = "00000000-0000-0000-0000-000000000000";

/// An app role.
pub(crate) fn role(id: &str, value: &str, types: &[RoleMemberType], enabled: bool) -> AppRole {
    AppRole {
        id: id.into(),
        value: value.into(),
        display_name: value.into(),
        description: String::new(),
        allowed_member_types: types.to_vec(),
        is_enabled: enabled,
    }
}

/// The roles of the test apps: Approver and Reader for users, Daemon for apps, Retired off.
pub(crate) fn roles() -> Vec<AppRole> {
    vec![
        role(APPROVER, "Approver", &[RoleMemberType::User], true),
        role(READER, "Reader", &[RoleMemberType::User], true),
        role(DAEMON, "Daemon", &[RoleMemberType::Application], true),
        role(RETIRED, "Retired", &[RoleMemberType::User], false),
    ]
}

/// An app token of the tenant holding `permissions`.
pub(crate) async fn app_token(app: &TestApp, permissions: &[&str]) -> String {
    let (client_id, secret) = app
        .app(AppInput {
            tenant: SLUG.into(),
            name: "Admin tool".into(),
            grants: vec!["client_credentials".into()],
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        })
        .await;
    let client = Client {
        client_id,
        secret,
        redirect_uri: String::new(),
    };
    let response = app
        .token(SLUG, &client, &[("grant_type", "client_credentials")])
        .await;
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A Graph call at `{issuer}/v1.0/{path}`.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .api()
        .request(method, format!("{}/v1.0/{path}", app.issuer(SLUG)))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The object id of the app `client_id`.
pub(crate) async fn object_id(app: &TestApp, client_id: &str) -> String {
    app.state
        .store
        .app_by_client_id(client_id)
        .await
        .unwrap()
        .id
}

struct World {
    app: TestApp,
    token: String,
    ann: User,
    group: String,
    expenses: String,
    plain: String,
    daemon: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    app.tenant(SLUG).await;
    let ann = app
        .user(SLUG, "ann@contoso.example", "a long enough password")
        .await;
    let group = gatehouse::services::admin::create_group(
        app.state.store.as_ref(),
        GroupInput {
            tenant: SLUG.into(),
            name: "Approvers".into(),
            members: vec!["ann@contoso.example".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for (name, roles) in [("Expenses", roles()), ("Plain", vec![]), ("Daemon", vec![])] {
        let (client_id, _) = app
            .app(AppInput {
                tenant: SLUG.into(),
                name: name.into(),
                redirect_uris: vec!["https://rp.example/cb".into()],
                profile: AppProfile {
                    app_roles: roles,
                    ..AppProfile::default()
                },
                ..Default::default()
            })
            .await;
        ids.push(object_id(&app, &client_id).await);
    }
    let token = app_token(&app, &["AppRoleAssignment.ReadWrite.All"]).await;
    World {
        app,
        token,
        ann,
        group: group.id,
        expenses: ids[0].clone(),
        plain: ids[1].clone(),
        daemon: ids[2].clone(),
    }
}

fn body(principal: &str, resource: &str, role: &str) -> Value {
    json!({"principalId": principal, "resourceId": resource, "appRoleId": role})
}

/// Ann, her group and the Daemon app get roles of Expenses, Ann default access to Plain;
/// returns (Ann's, the group's, the app's) assignments and the three collection paths.
async fn give_all(w: &World) -> ([Value; 3], [String; 3]) {
    let (app, token) = (&w.app, w.token.as_str());
    let user_path = format!("users/{}/appRoleAssignments", w.ann.id);
    let (status, created) = call(
        app,
        Method::POST,
        &user_path,
        token,
        Some(body(&w.ann.id, &w.expenses, APPROVER)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["appRoleId"], APPROVER);
    assert_eq!(created["principalId"], w.ann.id.as_str());
    assert_eq!(created["principalType"], "User");
    assert_eq!(created["principalDisplayName"], w.ann.display_name.as_str());
    assert_eq!(created["resourceId"], w.expenses.as_str());
    assert_eq!(created["resourceDisplayName"], "Expenses");
    assert!(created["createdDateTime"].as_str().unwrap().ends_with('Z'));
    let group_path = format!("groups/{}/appRoleAssignments", w.group);
    let (status, by_group) = call(
        app,
        Method::POST,
        &group_path,
        token,
        Some(body(&w.group, &w.expenses, READER)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{by_group}");
    assert_eq!(by_group["principalType"], "Group");
    assert_eq!(by_group["principalDisplayName"], "Approvers");
    // Another app holds an Application role; an app without roles gives default access.
    let to_path = format!("applications/{}/appRoleAssignedTo", w.expenses);
    let (status, by_app) = call(
        app,
        Method::POST,
        &to_path,
        token,
        Some(body(&w.daemon, &w.expenses, DAEMON)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{by_app}");
    assert_eq!(by_app["principalType"], "ServicePrincipal");
    let (status, plain) = call(
        app,
        Method::POST,
        &user_path,
        token,
        Some(body(&w.ann.id, &w.plain, DEFAULT)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    let paths = [user_path, group_path, to_path];
    ([created, by_group, by_app], paths)
}

#[tokio::test]
async fn users_groups_and_apps_get_roles_in_graphs_shape() {
    let w = world().await;
    let (app, token) = (&w.app, w.token.as_str());
    let ([_, by_group, _], [user_path, group_path, to_path]) = give_all(&w).await;
    // Lists from each side.
    let (status, list) = call(app, Method::GET, &user_path, token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["value"].as_array().unwrap().len(), 2, "{list}");
    let (_, list) = call(app, Method::GET, &group_path, token, None).await;
    assert_eq!(list["value"][0]["id"], by_group["id"]);
    let (_, list) = call(app, Method::GET, &to_path, token, None).await;
    let types: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principalType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["User", "Group", "ServicePrincipal"], "{list}");
    let (_, paged) = call(app, Method::GET, &format!("{to_path}?$top=2"), token, None).await;
    assert!(paged["@odata.nextLink"].is_string(), "{paged}");
}

#[tokio::test]
async fn assignments_are_removed_under_their_own_object_and_audited() {
    let w = world().await;
    let (app, token) = (&w.app, w.token.as_str());
    let ([created, _, by_app], [user_path, group_path, to_path]) = give_all(&w).await;
    // Deleting: only under the object it belongs to, then once.
    let id = created["id"].as_str().unwrap();
    let (status, error) = call(
        app,
        Method::DELETE,
        &format!("{group_path}/{id}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    let (status, _) = call(
        app,
        Method::DELETE,
        &format!("{user_path}/{id}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        app,
        Method::DELETE,
        &format!("{user_path}/{id}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let by_app_id = by_app["id"].as_str().unwrap();
    let (status, _) = call(
        app,
        Method::DELETE,
        &format!("{to_path}/{by_app_id}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Every change is in the audit log.
    let tenant = app.state.store.tenant_by_slug(SLUG).await.unwrap();
    let audit = app
        .state
        .store
        .list_audit(&tenant.id, 100, 0)
        .await
        .unwrap();
    let activities: Vec<&str> = audit.iter().map(|e| e.activity.as_str()).collect();
    for activity in [
        "Add app role assignment to user",
        "Add app role assignment to group",
        "Add app role assignment to service principal",
        "Remove app role assignment from user",
        "Remove app role assignment from service principal",
    ] {
        assert!(activities.contains(&activity), "{activity}: {activities:?}");
    }
}

#[tokio::test]
async fn bad_assignments_get_a_clear_graph_error() {
    let w = world().await;
    let (app, token) = (&w.app, w.token.as_str());
    let user_path = format!("users/{}/appRoleAssignments", w.ann.id);
    let cases = [
        (body(&w.ann.id, &w.expenses, DAEMON), "cannot be given"),
        (body(&w.ann.id, &w.expenses, RETIRED), "not an enabled role"),
        (body(&w.ann.id, &w.expenses, DEFAULT), "default access"),
        (
            body(&w.ann.id, &w.expenses, "not-a-guid"),
            "appRoleId must be a GUID",
        ),
        (
            body(&w.group, &w.expenses, APPROVER),
            "principalId must be the object of the URL",
        ),
        (
            body(&w.ann.id, &w.ann.id, APPROVER),
            "not an application of this tenant",
        ),
        (json!({"principalId": w.ann.id}), "not valid"),
    ];
    for (request, message) in cases {
        let (status, error) =
            call(app, Method::POST, &user_path, token, Some(request.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {error}");
        let text = error["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{request}: {text}");
        assert!(error["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn wrong_principals_duplicates_unknown_objects_and_non_json_are_refused() {
    let w = world().await;
    let (app, token) = (&w.app, w.token.as_str());
    let user_path = format!("users/{}/appRoleAssignments", w.ann.id);
    // A user (or group) role to an app principal is refused too.
    let to_path = format!("applications/{}/appRoleAssignedTo", w.expenses);
    let (status, _) = call(
        app,
        Method::POST,
        &to_path,
        token,
        Some(body(&w.daemon, &w.expenses, APPROVER)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        app,
        Method::POST,
        &to_path,
        token,
        Some(body(&w.ann.id, &w.plain, DEFAULT)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "resourceId must be the URL's app"
    );
    // Twice the same role: a conflict.
    let (status, _) = call(
        app,
        Method::POST,
        &user_path,
        token,
        Some(body(&w.ann.id, &w.expenses, APPROVER)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = call(
        app,
        Method::POST,
        &user_path,
        token,
        Some(body(&w.ann.id, &w.expenses, APPROVER)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    // Unknown objects are 404s.
    let nobody = uuid::Uuid::new_v4().to_string();
    for path in [
        format!("users/{nobody}/appRoleAssignments"),
        format!("groups/{nobody}/appRoleAssignments"),
        format!("applications/{nobody}/appRoleAssignedTo"),
    ] {
        let (status, error) = call(app, Method::GET, &path, token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {error}");
    }
    // A body that is not JSON.
    let response = app
        .api()
        .post(format!("{}/v1.0/{user_path}", app.issuer(SLUG)))
        .bearer_auth(token)
        .body("principalId=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reads_take_a_read_permission_writes_need_app_role_assignment_readwrite() {
    let w = world().await;
    let app = &w.app;
    let user_path = format!("users/{}/appRoleAssignments", w.ann.id);
    let reader = app_token(app, &["Application.Read.All"]).await;
    let users = app_token(app, &["User.Read.All"]).await;
    let nothing = app_token(app, &["Policy.Read.All"]).await;
    for token in [&reader, &users] {
        let (status, _) = call(app, Method::GET, &user_path, token, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(
            app,
            Method::POST,
            &user_path,
            token,
            Some(body(&w.ann.id, &w.expenses, APPROVER)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, error) = call(app, Method::GET, &user_path, &nothing, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, _) = call(app, Method::GET, &user_path, "not-a-token", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_deleted_users_assignments_go_with_the_user() {
    let w = world().await;
    let (app, token) = (&w.app, w.token.as_str());
    let user_path = format!("users/{}/appRoleAssignments", w.ann.id);
    let (status, _) = call(
        app,
        Method::POST,
        &user_path,
        token,
        Some(body(&w.ann.id, &w.expenses, APPROVER)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let store = app.state.store.as_ref();
    assert_eq!(
        store.assignments_to_app(&w.expenses).await.unwrap().len(),
        1
    );
    store
        .delete_user(&w.ann.tenant_id, &w.ann.id)
        .await
        .unwrap();
    assert!(
        store
            .assignments_to_app(&w.expenses)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .assigned_apps(std::slice::from_ref(&w.ann.id))
            .await
            .unwrap()
            .is_empty()
    );
}
