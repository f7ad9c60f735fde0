//! The OpenAPI 3.1 document of the admin API, served at `/openapi.json`. Its paths come from
//! the `#[utoipa::path]` annotations on the handlers themselves, collected by the same
//! [`super::api`] that builds the router (utoipa-axum), so the document and the routes cannot
//! drift apart; this module adds the description, the schemas, the tags and the bearer scheme.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Graph-shaped administration of a Gatehouse tenant: invitations, guest users, \
                       external-collaboration settings and the audit log. Authenticate with a bearer \
                       access token issued by the tenant: an app token (client credentials) whose app \
                       holds the application permission, or a user token carrying the delegated \
                       permission as a scope, within the user's directory roles."
    ),
    components(schemas(
        crate::services::invitations::InviteRequest,
        crate::services::invitations::InvitedUserRef,
        crate::domain::invitation::MessageInfo,
        crate::domain::invitation::GraphRecipient,
        crate::domain::invitation::GraphEmailAddress,
        crate::domain::tenant::TenantSettings,
        crate::domain::tenant::InvitePolicy,
        crate::domain::tenant::RedemptionRoute,
        crate::domain::tenant::UnverifiedAddressRedemption,
        crate::domain::invitation::HeldRedemption,
        crate::domain::invitation::HeldStatus,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "invitations", description = "Invite guests and follow their invitations"),
        (name = "users", description = "Users and guests"),
        (name = "groups", description = "Groups, their members (users and nested groups, at most 8 levels) and owners"),
        (name = "policies", description = "External-collaboration settings"),
        (name = "auditLogs", description = "The audit log and the sign-in log"),
        (name = "conditionalAccess", description = "Conditional-access policies"),
        (name = "identityProviders", description = "Partner identity providers of guests"),
        (name = "organization", description = "The organisation's branding on its pages and mail"),
        (name = "applications", description = "Applications (OIDC clients and SAML SPs), their client secrets and SAML metadata. Departure from Graph: there is no servicePrincipal; appRoleAssignmentRequired, accountEnabled and the OIDC registration fields Graph has no names for are properties of the application"),
        (name = "appRoleAssignments", description = "App roles given to users, groups and apps (default access when an app defines no roles); resourceId is the application's object id, as Gatehouse has no separate service principal"),
    )
)]
pub struct AdminApi;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The whole document: the paths the router was built from, with this module's parts.
static DOCUMENT: std::sync::LazyLock<utoipa::openapi::OpenApi> =
    std::sync::LazyLock::new(|| super::api().1);

/// `GET /openapi.json`.
pub async fn get_openapi() -> Response {
    axum::Json(&*DOCUMENT).into_response()
}
