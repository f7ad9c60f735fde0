//! App-role assignments (Graph `appRoleAssignment`), shared by the admin API and the CLI:
//! giving a user, a group or another app one of an app's roles (default access when the app
//! defines none), listing and removing them, each written to the audit log. Whether an
//! assignment admits a user is decided by the one rule in `services::access`.

use super::{AdminError, tenant_by_slug, user_by_email};
use crate::domain::Invalid;
use crate::domain::app::App;
use crate::domain::assignment::{DEFAULT_ACCESS, PrincipalType, check_role};
use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::store::{AppRoleAssignment, AuditEvent, NewAssignment, Party, Store, StoreError};

/// Who an assignment made from the CLI gives an app to.
#[derive(Debug, Clone)]
pub enum Assignee {
    /// A user, by e-mail address.
    User(String),
    /// A group, by id.
    Group(String),
}

/// The object of the URL an admin-API assignment is reached through.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// `/users/{id}/appRoleAssignments`.
    User(&'a str),
    /// `/groups/{id}/appRoleAssignments`.
    Group(&'a str),
    /// `/applications/{id}/appRoleAssignedTo` (object id or client id).
    Application(&'a str),
}

/// The body of a new assignment (Graph's names: principalId, resourceId, appRoleId).
#[derive(Debug, Clone)]
pub struct AssignmentRequest {
    /// The user, group or app given the role.
    pub principal_id: String,
    /// The app whose role is given (object id).
    pub resource_id: String,
    /// The role; the nil UUID for default access.
    pub app_role_id: String,
}

/// An assignment in Graph's `appRoleAssignment` shape.
pub fn to_json(a: &AppRoleAssignment) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "appRoleId": a.app_role_id,
        "principalId": a.principal_id,
        "principalType": a.principal_type,
        "principalDisplayName": a.principal_name,
        "resourceId": a.app_id,
        "resourceDisplayName": a.resource_name,
        "createdDateTime": crate::domain::date_time(a.created_at),
        "deletedDateTime": null,
    })
}

/// What the CLI lists the assignments of.
#[derive(Debug, Clone)]
pub enum Listed {
    /// A user's, by e-mail address.
    User(String),
    /// A group's, by id.
    Group(String),
    /// Those to an app, by client id.
    App(String),
}

/// The assignments of a user (by e-mail), a group or to an app (by client id), for the CLI.
pub async fn list_for(
    store: &dyn Store,
    tenant: &str,
    what: &Listed,
) -> Result<Vec<AppRoleAssignment>, AdminError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    match what {
        Listed::User(email) => {
            let user = user_by_email(store, &tenant, email).await?;
            list(store, &tenant, Via::User(&user.id)).await
        }
        Listed::Group(id) => list(store, &tenant, Via::Group(id)).await,
        Listed::App(client_id) => list(store, &tenant, Via::Application(client_id)).await,
    }
}

/// Removes the assignments of `client_id` to a user or group: of the role whose value is
/// `role`, or all of them; returns what was removed.
pub async fn remove_for(
    store: &dyn Store,
    tenant: &str,
    client_id: &str,
    assignee: &Assignee,
    role: Option<&str>,
) -> Result<Vec<AppRoleAssignment>, AdminError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    let (app, principal, _) = cli_parts(store, &tenant, client_id, assignee).await?;
    let role_id = role
        .map(|value| {
            app.profile
                .app_roles
                .iter()
                .find(|r| r.value == value)
                .map(|r| r.id.clone())
                .ok_or_else(|| Invalid::new(format!("the app defines no role {value:?}")))
        })
        .transpose()?;
    let held: Vec<AppRoleAssignment> = store
        .assignments_of_principal(&tenant.id, &principal)
        .await
        .map_err(AdminError::Store)?
        .into_iter()
        .filter(|a| a.app_id == app.id)
        .filter(|a| {
            role_id
                .as_ref()
                .is_none_or(|r| a.app_role_id.eq_ignore_ascii_case(r))
        })
        .collect();
    if held.is_empty() {
        return Err(AdminError::NotFound(format!(
            "no such assignment of {client_id}"
        )));
    }
    for assignment in &held {
        remove(
            store,
            &tenant,
            operator(),
            Via::Application(&app.id),
            &assignment.id,
        )
        .await?;
    }
    Ok(held)
}

/// The Gatehouse operator, as the CLI's audit party.
fn operator() -> Party {
    Party {
        id: "operator".to_owned(),
        kind: "system".to_owned(),
        display: "Gatehouse operator".to_owned(),
    }
}

/// An app of the tenant by object id or client id.
async fn app_of(store: &dyn Store, tenant: &Tenant, id: &str) -> Result<App, AdminError> {
    let apps = store
        .apps_of_tenant(&tenant.id)
        .await
        .map_err(AdminError::Store)?;
    apps.into_iter()
        .find(|app| app.id == id || app.client_id == id)
        .ok_or_else(|| AdminError::NotFound(format!("there is no application {id}")))
}

/// Whether `id` names a user, a group or an app of the tenant (in that order).
async fn principal_kind(
    store: &dyn Store,
    tenant: &Tenant,
    id: &str,
) -> Result<Option<PrincipalType>, AdminError> {
    match store.user_by_id(&tenant.id, id).await {
        Ok(_) => return Ok(Some(PrincipalType::User)),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(AdminError::Store(e)),
    }
    match store.group_by_id(&tenant.id, id).await {
        Ok(_) => return Ok(Some(PrincipalType::Group)),
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(AdminError::Store(e)),
    }
    let apps = store
        .apps_of_tenant(&tenant.id)
        .await
        .map_err(AdminError::Store)?;
    Ok(apps
        .iter()
        .any(|app| app.id == id)
        .then_some(PrincipalType::ServicePrincipal))
}

/// Checks that the object of the URL exists (a 404 otherwise).
async fn check_via(store: &dyn Store, tenant: &Tenant, via: Via<'_>) -> Result<(), AdminError> {
    let found = match via {
        Via::User(id) => store.user_by_id(&tenant.id, id).await.map(|_| ()),
        Via::Group(id) => store.group_by_id(&tenant.id, id).await.map(|_| ()),
        Via::Application(id) => return app_of(store, tenant, id).await.map(|_| ()),
    };
    match found {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(AdminError::NotFound(match via {
            Via::User(id) => format!("there is no user {id}"),
            Via::Group(id) | Via::Application(id) => format!("there is no group {id}"),
        })),
        Err(e) => Err(AdminError::Store(e)),
    }
}

/// A UUID-valued property, or a 400 naming it.
fn uuid_of(name: &str, value: &str) -> Result<String, Invalid> {
    uuid::Uuid::parse_str(value)
        .map(|u| u.to_string())
        .map_err(|_| Invalid::new(format!("{name} must be a GUID")))
}

/// Gives a principal a role of an app, reached through `via` (whose object must be the
/// principal, or the app for `appRoleAssignedTo`); audited as done by `actor`.
pub async fn add(
    store: &dyn Store,
    tenant: &Tenant,
    actor: Party,
    via: Via<'_>,
    request: AssignmentRequest,
) -> Result<AppRoleAssignment, AdminError> {
    check_via(store, tenant, via).await?;
    let principal_id = uuid_of("principalId", request.principal_id.trim())?;
    let resource_id = uuid_of("resourceId", request.resource_id.trim())?;
    let app_role_id = uuid_of("appRoleId", request.app_role_id.trim())?;
    let kind = match via {
        Via::User(id) | Via::Group(id) if id != principal_id => {
            return Err(Invalid::new("principalId must be the object of the URL").into());
        }
        Via::User(_) => PrincipalType::User,
        Via::Group(_) => PrincipalType::Group,
        Via::Application(_) => principal_kind(store, tenant, &principal_id)
            .await?
            .ok_or_else(|| {
                Invalid::new(format!(
                    "principalId {principal_id} is no user, group or application of this tenant"
                ))
            })?,
    };
    let app = match app_of(store, tenant, &resource_id).await {
        Ok(app) if app.id == resource_id => app,
        Ok(_) | Err(AdminError::NotFound(_)) => {
            return Err(Invalid::new(format!(
                "resourceId {resource_id} is not an application of this tenant"
            ))
            .into());
        }
        Err(e) => return Err(e),
    };
    if let Via::Application(id) = via
        && id != app.id
        && id != app.client_id
    {
        return Err(Invalid::new("resourceId must be the application of the URL").into());
    }
    check_role(&app.profile, kind, &app_role_id)?;
    insert(
        store,
        tenant,
        actor,
        &app,
        (&principal_id, kind),
        &app_role_id,
    )
    .await
}

/// Stores an assignment and audits it.
async fn insert(
    store: &dyn Store,
    tenant: &Tenant,
    actor: Party,
    app: &App,
    (principal_id, kind): (&str, PrincipalType),
    app_role_id: &str,
) -> Result<AppRoleAssignment, AdminError> {
    // Time-ordered, so lists keep the order of creation within a second.
    let id = uuid::Uuid::now_v7().to_string();
    let new = NewAssignment {
        id: &id,
        tenant_id: &tenant.id,
        app_id: &app.id,
        principal_id,
        principal_type: kind.as_str(),
        app_role_id,
        created_at: unix_now(),
    };
    store.add_assignment(&new).await.map_err(|e| {
        super::conflict_or(e, || {
            format!(
                "the {} already holds this role of the application",
                kind.as_str()
            )
        })
    })?;
    let assignment = store
        .assignment(&tenant.id, &id)
        .await
        .map_err(AdminError::Store)?;
    let target = match kind {
        PrincipalType::User => "user",
        PrincipalType::Group => "group",
        PrincipalType::ServicePrincipal => "service principal",
    };
    audit(
        store,
        &assignment,
        actor,
        &format!("Add app role assignment to {target}"),
    )
    .await?;
    Ok(assignment)
}

/// Writes the audit event of an assignment's change.
async fn audit(
    store: &dyn Store,
    assignment: &AppRoleAssignment,
    actor: Party,
    activity: &str,
) -> Result<(), AdminError> {
    let targets = vec![
        Party {
            id: assignment.principal_id.clone(),
            kind: assignment.principal_type.to_ascii_lowercase(),
            display: assignment.principal_name.clone().unwrap_or_default(),
        },
        Party {
            id: assignment.app_id.clone(),
            kind: "application".to_owned(),
            display: assignment.resource_name.clone(),
        },
    ];
    let event = AuditEvent::new(
        &assignment.tenant_id,
        "ApplicationManagement",
        activity,
        actor,
        targets,
    )
    .with_details(serde_json::json!({
        "appRoleAssignmentId": assignment.id,
        "appRoleId": assignment.app_role_id,
    }));
    store.record_audit(&event).await.map_err(AdminError::Store)
}

/// The assignments reached through `via`: those a user or group holds, or those to an app.
pub async fn list(
    store: &dyn Store,
    tenant: &Tenant,
    via: Via<'_>,
) -> Result<Vec<AppRoleAssignment>, AdminError> {
    check_via(store, tenant, via).await?;
    let found = match via {
        Via::User(id) | Via::Group(id) => store.assignments_of_principal(&tenant.id, id).await,
        Via::Application(id) => {
            let app = app_of(store, tenant, id).await?;
            store.assignments_to_app(&app.id).await
        }
    };
    found.map_err(AdminError::Store)
}

/// Removes the assignment `id` reached through `via` (it must belong to the URL's object).
pub async fn remove(
    store: &dyn Store,
    tenant: &Tenant,
    actor: Party,
    via: Via<'_>,
    id: &str,
) -> Result<(), AdminError> {
    check_via(store, tenant, via).await?;
    let missing = || AdminError::NotFound(format!("there is no app role assignment {id} here"));
    let assignment = match store.assignment(&tenant.id, id).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(missing()),
        Err(e) => return Err(AdminError::Store(e)),
    };
    let belongs = match via {
        Via::User(object) | Via::Group(object) => assignment.principal_id == object,
        Via::Application(object) => app_of(store, tenant, object).await?.id == assignment.app_id,
    };
    if !belongs {
        return Err(missing());
    }
    match store.delete_assignment(&tenant.id, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(missing()),
        Err(e) => return Err(AdminError::Store(e)),
    }
    let from = match assignment.principal_type.as_str() {
        "User" => "user",
        "Group" => "group",
        _ => "service principal",
    };
    audit(
        store,
        &assignment,
        actor,
        &format!("Remove app role assignment from {from}"),
    )
    .await
}

/// The app (by client id, or object id) and the principal (id and type) of a CLI assignment.
async fn cli_parts(
    store: &dyn Store,
    tenant: &Tenant,
    client_id: &str,
    assignee: &Assignee,
) -> Result<(App, String, PrincipalType), AdminError> {
    let app = app_of(store, tenant, client_id).await.map_err(|_| {
        AdminError::NotFound(format!(
            "there is no app {client_id} in tenant {}",
            tenant.slug
        ))
    })?;
    let (principal, kind) = match assignee {
        Assignee::User(email) => (
            user_by_email(store, tenant, email).await?.id,
            PrincipalType::User,
        ),
        Assignee::Group(id) => match store.group_by_id(&tenant.id, id).await {
            Ok(group) => (group.id, PrincipalType::Group),
            Err(StoreError::NotFound) => {
                return Err(AdminError::NotFound(format!(
                    "there is no group {id} in tenant {}",
                    tenant.slug
                )));
            }
            Err(e) => return Err(AdminError::Store(e)),
        },
    };
    Ok((app, principal, kind))
}

/// Gives a user (by e-mail) or a group the role of `client_id` whose value is `role` (default
/// access when `None`), as the operator; an existing assignment of that role is returned
/// as it is.
pub async fn assign_role(
    store: &dyn Store,
    tenant: &str,
    client_id: &str,
    assignee: &Assignee,
    role: Option<&str>,
) -> Result<AppRoleAssignment, AdminError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    let (app, principal, kind) = cli_parts(store, &tenant, client_id, assignee).await?;
    let role_id = match role {
        None => DEFAULT_ACCESS.to_owned(),
        Some(value) => app
            .profile
            .app_roles
            .iter()
            .find(|r| r.value == value)
            .map(|r| r.id.clone())
            .ok_or_else(|| Invalid::new(format!("the app defines no role {value:?}")))?,
    };
    check_role(&app.profile, kind, &role_id)?;
    let held = store
        .assignments_of_principal(&tenant.id, &principal)
        .await
        .map_err(AdminError::Store)?;
    if let Some(existing) = held
        .into_iter()
        .find(|a| a.app_id == app.id && a.app_role_id.eq_ignore_ascii_case(&role_id))
    {
        return Ok(existing);
    }
    insert(
        store,
        &tenant,
        operator(),
        &app,
        (&principal, kind),
        &role_id,
    )
    .await
}

/// Assigns an app to a user or a group with default access (idempotent); returns (app,
/// principal id, kind).
pub async fn assign(
    store: &dyn Store,
    tenant: &str,
    client_id: &str,
    assignee: &Assignee,
) -> Result<(App, String, &'static str), AdminError> {
    let assignment = assign_role(store, tenant, client_id, assignee, None).await?;
    let tenant = tenant_by_slug(store, tenant).await?;
    let app = app_of(store, &tenant, &assignment.app_id).await?;
    let kind = if assignment.principal_type == "Group" {
        "Group"
    } else {
        "User"
    };
    Ok((app, assignment.principal_id, kind))
}

/// Removes every assignment of an app to a user or a group: the next token the user asks for
/// (a refresh included) is refused when the app requires assignment.
pub async fn unassign(
    store: &dyn Store,
    tenant: &str,
    client_id: &str,
    assignee: &Assignee,
) -> Result<(App, String, &'static str), AdminError> {
    let tenant = tenant_by_slug(store, tenant).await?;
    let (app, principal, kind) = cli_parts(store, &tenant, client_id, assignee).await?;
    let held = store
        .assignments_of_principal(&tenant.id, &principal)
        .await
        .map_err(AdminError::Store)?;
    let held: Vec<AppRoleAssignment> = held.into_iter().filter(|a| a.app_id == app.id).collect();
    if held.is_empty() {
        return Err(AdminError::NotFound(format!(
            "{} is not assigned to {client_id}",
            match assignee {
                Assignee::User(email) => email.clone(),
                Assignee::Group(id) => format!("group {id}"),
            }
        )));
    }
    for assignment in &held {
        remove(
            store,
            &tenant,
            operator(),
            Via::Application(&app.id),
            &assignment.id,
        )
        .await?;
    }
    Ok((app, principal, kind.as_str()))
}
