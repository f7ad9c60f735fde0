-- Redemptions held for an administrator: the guest's home IdP did not assert the invited
-- address as verified and the tenant holds such redemptions instead of refusing them.
-- One row per (invitation, home identity); status pending | approved | denied | closed.
CREATE TABLE held_redemptions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    invitation_id TEXT NOT NULL REFERENCES invitations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    invited_email TEXT NOT NULL,
    partner_id TEXT,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    asserted_email TEXT,
    asserted_email_verified BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    UNIQUE (invitation_id, issuer, subject)
);
CREATE INDEX held_redemptions_by_tenant ON held_redemptions (tenant_id, status, created_at);
