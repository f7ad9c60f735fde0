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
        paths::list_sign_ins,
        paths::get_redemption_route,
        paths::list_partners,
        paths::post_partner,
        paths::delete_partner,
        paths::patch_partner,
        paths::list_held,
        paths::get_held,
        paths::post_approve_held,
        paths::post_deny_held,
        paths::list_policies,
        paths::post_policy,
        paths::get_policy,
        paths::patch_policy,
        paths::delete_policy,
        paths::list_methods,
        paths::delete_totp_method,
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
        crate::domain::tenant::UnverifiedAddressRedemption,
        crate::domain::invitation::HeldRedemption,
        crate::domain::invitation::HeldStatus,
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
    use crate::domain::invitation::HeldRedemption;
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

    #[utoipa::path(get, path = "/{tenant}/v1.0/auditLogs/signIns", tag = "auditLogs",
        params(("tenant" = String, Path), ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query),
               ("$filter" = Option<String>, Query, description = "userId eq '…', appId eq '…', status eq 'success|failure|interrupted', joined by and")),
        responses((status = 200, description = "{ value: [signIn] }, newest first, with appliedConditionalAccessPolicies")),
        security(("bearer" = [])))]
    pub fn list_sign_ins() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/identity/conditionalAccess/policies", tag = "conditionalAccess",
        params(("tenant" = String, Path)),
        responses((status = 200, description = "{ value: [conditionalAccessPolicy] }")), security(("bearer" = [])))]
    pub fn list_policies() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/identity/conditionalAccess/policies", tag = "conditionalAccess",
        params(("tenant" = String, Path)),
        request_body(content = String, description = "conditionalAccessPolicy: displayName, state (enabled | disabled | enabledForReportingButNotEnforced), conditions.users (includeUsers: All | None | GuestsOrExternalUsers | Members | ids; excludeUsers; includeGroups; excludeGroups), conditions.applications (includeApplications: All | None | appIds; excludeApplications), grantControls.builtInControls (mfa | block)", content_type = "application/json"),
        responses((status = 201, description = "The policy"), (status = 400, description = "What is wrong with it")),
        security(("bearer" = [])))]
    pub fn post_policy() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/identity/conditionalAccess/policies/{id}", tag = "conditionalAccess",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, description = "The policy"), (status = 404, description = "No such policy")),
        security(("bearer" = [])))]
    pub fn get_policy() {}

    #[utoipa::path(patch, path = "/{tenant}/v1.0/identity/conditionalAccess/policies/{id}", tag = "conditionalAccess",
        params(("tenant" = String, Path), ("id" = String, Path)),
        request_body(content = String, description = "Any of displayName, state, conditions, grantControls", content_type = "application/json"),
        responses((status = 204, description = "Changed; applies to the next token issued"), (status = 400, description = "What is wrong")),
        security(("bearer" = [])))]
    pub fn patch_policy() {}

    #[utoipa::path(delete, path = "/{tenant}/v1.0/identity/conditionalAccess/policies/{id}", tag = "conditionalAccess",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 204, description = "Deleted"), (status = 404, description = "No such policy")),
        security(("bearer" = [])))]
    pub fn delete_policy() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/users/{id}/authentication/methods", tag = "users",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, description = "{ value: [passwordAuthenticationMethod | softwareOathAuthenticationMethod] }")),
        security(("bearer" = [])))]
    pub fn list_methods() {}

    #[utoipa::path(delete, path = "/{tenant}/v1.0/users/{id}/authentication/softwareOathMethods/{method}", tag = "users",
        params(("tenant" = String, Path), ("id" = String, Path), ("method" = String, Path)),
        responses((status = 204, description = "Removed; the user is told by mail"), (status = 404, description = "No such user or method")),
        security(("bearer" = [])))]
    pub fn delete_totp_method() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/policies/externalCollaboration/redemptionRoute", tag = "policies",
        params(("tenant" = String, Path), ("address" = String, Query, description = "the address an invitation would go to")),
        responses((status = 200, description = "{ address, route, reason, homeTenant, considered: [{ route, applies, reason }] }"),
                  (status = 400, description = "Not a valid address")),
        security(("bearer" = [])))]
    pub fn get_redemption_route() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/identity/identityProviders", tag = "identityProviders",
        params(("tenant" = String, Path)),
        responses((status = 200, description = "{ value: [openIdConnectIdentityProvider or samlOrWsFedExternalDomainFederation, with domains] }; secrets are never returned")),
        security(("bearer" = [])))]
    pub fn list_partners() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/identity/identityProviders", tag = "identityProviders",
        params(("tenant" = String, Path)),
        request_body(content = String, description = "OIDC (@odata.type #microsoft.graph.openIdConnectIdentityProvider, the default): displayName, issuer, clientId, clientSecret, clientAuthentication (client_secret_basic, client_secret_post, private_key_jwt or none; default: chosen from the partner's discovery, private_key_jwt without a clientSecret), scope, domains: [{id}], attestDomains, trustMfa, mfaValues, offeredToAll. SAML (#microsoft.graph.samlOrWsFedExternalDomainFederation): displayName, issuerUri (optional, must match the metadata's entityID), metadataXml or metadataExchangeUri, domains, attestDomains, trustMfa, mfaValues (AuthnContextClassRef values), offeredToAll", content_type = "application/json"),
        responses((status = 201, description = "Registered (its discovery or metadata answered)"), (status = 400, description = "What is wrong: consumer domain, another tenant's verified domain, unproven domain, unreachable issuer or metadata, metadata without a signing certificate or HTTP-Redirect SSO"),
                  (status = 409, description = "Issuer already registered or domain already bound")),
        security(("bearer" = [])))]
    pub fn post_partner() {}

    #[utoipa::path(delete, path = "/{tenant}/v1.0/identity/identityProviders/{id}", tag = "identityProviders",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 204, description = "Removed"), (status = 404, description = "No such identity provider")),
        security(("bearer" = [])))]
    pub fn delete_partner() {}

    #[utoipa::path(patch, path = "/{tenant}/v1.0/identity/identityProviders/{id}", tag = "identityProviders",
        params(("tenant" = String, Path), ("id" = String, Path)),
        request_body(content = String, description = "Any of displayName, clientId, clientSecret (rotation), clientAuthentication, scope (OIDC); metadataXml, metadataExchangeUri (SAML, same entityID); domains: [{id}] (the whole new set; new ones need proof or attestDomains), trustMfa, mfaValues, offeredToAll", content_type = "application/json"),
        responses((status = 204, description = "Changed; applies to the next sign-in"), (status = 400, description = "What is wrong"),
                  (status = 404, description = "No such identity provider"), (status = 409, description = "A domain already routes to another partner")),
        security(("bearer" = [])))]
    pub fn patch_partner() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/heldRedemptions", tag = "invitations",
        params(("tenant" = String, Path), ("$filter" = Option<String>, Query, description = "status eq 'pending|approved|denied|closed'")),
        responses((status = 200, description = "{ value: [heldRedemption] }, newest first: redemptions whose home IdP did not assert the invited address as verified, held when the tenant's unverifiedAddressRedemption is holdForApproval")),
        security(("bearer" = [])))]
    pub fn list_held() {}

    #[utoipa::path(get, path = "/{tenant}/v1.0/heldRedemptions/{id}", tag = "invitations",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, body = HeldRedemption), (status = 404, description = "No such request")),
        security(("bearer" = [])))]
    pub fn get_held() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/heldRedemptions/{id}/approve", tag = "invitations",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, body = HeldRedemption, description = "Approved: the home identity is bound to the guest and the invitation redeemed"),
                  (status = 409, description = "Already decided, the invitation is no longer pending (the request is then closed), or the identity is bound to another user")),
        security(("bearer" = [])))]
    pub fn post_approve_held() {}

    #[utoipa::path(post, path = "/{tenant}/v1.0/heldRedemptions/{id}/deny", tag = "invitations",
        params(("tenant" = String, Path), ("id" = String, Path)),
        responses((status = 200, body = HeldRedemption, description = "Denied: nothing is bound; the same identity is refused for this invitation from now on"),
                  (status = 409, description = "Already decided")),
        security(("bearer" = [])))]
    pub fn post_deny_held() {}
}
