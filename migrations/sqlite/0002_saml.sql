-- SAML 2.0: the X.509 certificate of each RSA signing key (published in IdP metadata), and
-- applications that are SAML service providers.

ALTER TABLE signing_keys ADD COLUMN certificate TEXT;

CREATE TABLE saml_sps (
    app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    entity_id TEXT NOT NULL,
    -- JSON: [{"url": …, "index": n, "is_default": bool}], HTTP-POST endpoints only.
    acs TEXT NOT NULL,
    slo_url TEXT,
    -- JSON: the SP's signing certificates, base64 DER.
    certificates TEXT NOT NULL,
    authn_requests_signed BOOLEAN NOT NULL,
    sign_response BOOLEAN NOT NULL,
    nameid_format TEXT NOT NULL,
    UNIQUE (tenant_id, entity_id)
);
