-- Partner (home) identity providers of a tenant and the e-mail domains they serve.
CREATE TABLE partner_idps (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    display_name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT,
    client_secret TEXT,
    scopes TEXT NOT NULL,
    metadata_xml TEXT,
    metadata_url TEXT,
    trust_mfa BOOLEAN NOT NULL,
    mfa_values TEXT NOT NULL,
    offered_to_all BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, issuer)
);

-- A domain routes to one partner of a tenant; proof says how it was established
-- (idpHostInDomain or adminAttestation, the latter also in the audit log).
CREATE TABLE partner_domains (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    domain TEXT NOT NULL,
    partner_id TEXT NOT NULL REFERENCES partner_idps(id) ON DELETE CASCADE,
    proof TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, domain)
);
