-- Company branding (accent colour and logo description, JSON) on the tenant, the logo's bytes
-- apart so that loading a tenant never carries them; the language remembered for a user
-- (Graph's preferredLanguage: an invitation's messageLanguage for a guest).
ALTER TABLE tenants ADD COLUMN branding TEXT NOT NULL DEFAULT '{}';
CREATE TABLE tenant_logos (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
ALTER TABLE users ADD COLUMN preferred_language TEXT;
