//! The OpenAPI 3.1 document of the admin API, generated from the handlers' annotations
//! (utoipa) and served at `/openapi.json`.

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
    paths(
        paths::post_invitation,
        paths::list_invitations,
        paths::get_invitation,
        paths::post_resend,
        paths::post_revoke,
        paths::post_bulk,
        paths::list_users,
        paths::get_user,
        paths::delete_user,
        paths::get_settings,
        paths::patch_settings,
        paths::list_directory_audits,
    ),
    components(schemas(
        crate::invitations::InviteRequest,
        crate::invitations::InvitedUserRef,
        crate::domain::invitation::MessageInfo,
        crate::domain::invitation::GraphRecipient,
        crate::domain::invitation::GraphEmailAddress,
        crate::domain::tenant::TenantSettings,
        crate::domain::tenant::InvitePolicy,
        crate::domain::tenant::RedemptionRoute,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "invitations", description = "Invite guests and follow their invitations"),
        (name = "users", description = "Users and guests"),
        (name = "policies", description = "External-collaboration settings"),
        (name = "auditLogs", description = "The audit log"),
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

/// `GET /openapi.json`.
pub async fn get_openapi() -> Response {
    axum::Json(AdminApi::openapi()).into_response()
}

/// Path descriptions (the handlers live in the sibling modules; these carry their contract).
#[allow(dead_code)]
mod paths {
    use crate::domain::tenant::TenantSettings;
    use crate::invitations::InviteRequest;

    #[utoipa::path(post, path = "/{tenant}/v1.0/invitations", tag = "invitations",
        params(("tenant" = String, Path, description = "Tenant slug")),
        request_body = InviteRequest,
        responses(
            (status = 201, description = "The invitation, with inviteRedeemUrl and the guest user"),
            (status = 400, description = "Invalid input (Request_BadRequest)"),
            (status = 401, description = "No valid bearer token"),
            (status = 403, description = "The caller may not invite, or the domain is not allowed"),
            (status = 409, description = "The address belongs to a member or a redeemed guest"),
        ),
        security(("bearer" = [])))]
    pub fn post_invitation() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/invitations", tag = "invitations",
        params(("tenant" = String, Path), ("$filter" = Option<String>, Query, description = "status eq 'PendingAcceptance'|'Completed'|'Revoked'|'Expired'"),
               ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query)),
        responses((status = 200, description = "{ value: [invitation] }")), security(("bearer" = [])))]
    pub fn list_invitations() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/invitations/{id}", tag = "invitations",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, description = "The invitation"), (status = 404, description = "No such invitation")),
        security(("bearer" = [])))]
    pub fn get_invitation() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/invitations/{id}/resend", tag = "invitations",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 201, description = "A new invitation replacing the old one (whose link dies)")),
        security(("bearer" = [])))]
    pub fn post_resend() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/invitations/{id}/revoke", tag = "invitations",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, description = "The revoked invitation"), (status = 409, description = "Not pending")),
        security(("bearer" = [])))]
    pub fn post_revoke() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/invitations/bulk", tag = "invitations",
        params(("tenant" = String, Path)),
        request_body(content = String, description = "Entra's CSV template (text/csv) or JSON Lines (application/x-ndjson), streamed"),
        responses((status = 200, description = "One result per row, streamed: CSV, or JSON Lines with Accept: application/x-ndjson")),
        security(("bearer" = [])))]
    pub fn post_bulk() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/users", tag = "users",
        params(("tenant" = String, Path), ("$filter" = Option<String>, Query, description = "userType eq 'Guest'|'Member'"),
               ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query)),
        responses((status = 200, description = "{ value: [user] }")), security(("bearer" = [])))]
    pub fn list_users() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}", tag = "users",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, description = "The user, with userType, externalUserState, identities, creationType")),
        security(("bearer" = [])))]
    pub fn get_user() {}

    #[utoipa::path(delete, path = "/{tenant}/v1.0/users/{id}", tag = "users",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 204, description = "Deleted"), (status = 400, description = "Not a guest")),
        security(("bearer" = [])))]
    pub fn delete_user() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/policies/externalCollaboration", tag = "policies",
        params(("tenant" = String, Path)), responses((status = 200, body = TenantSettings)), security(("bearer" = [])))]
    pub fn get_settings() {}

    #[utoipa::path(patch, path = "/{tenant}/v1.0/policies/externalCollaboration", tag = "policies",
        params(("tenant" = String, Path)), request_body = TenantSettings,
        responses((status = 200, body = TenantSettings), (status = 400, description = "Invalid settings")),
        security(("bearer" = [])))]
    pub fn patch_settings() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/auditLogs/directoryAudits", tag = "auditLogs",
        params(("tenant" = String, Path), ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query)),
        responses((status = 200, description = "{ value: [directoryAudit] }, newest first")), security(("bearer" = [])))]
    pub fn list_directory_audits() {}
}
