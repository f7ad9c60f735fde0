-- Conditional access, TOTP methods, recovery codes and the sign-in log.

-- Conditional-access policies (DESIGN.md: state, conditions on users and applications, grant).
-- conditions and grant_controls are JSON in Graph's conditionalAccessPolicy shape.
CREATE TABLE ca_policies (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    state TEXT NOT NULL,
    conditions TEXT NOT NULL,
    grant_controls TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX ca_policies_tenant ON ca_policies (tenant_id, created_at);

-- TOTP authenticators. secret is sealed with the master key; last_step is the time step of
-- the last accepted code (RFC 6238 §5.2: a code is accepted once), advanced atomically.
CREATE TABLE totp_methods (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX totp_methods_user ON totp_methods (user_id);

-- Single-use recovery codes, SHA-256 of the code (they are random, 50+ bits, so a fast hash
-- is enough); a new set replaces the old one.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- The sign-in log: every attempt, with each policy's result (Graph's signIn shape, as JSON
-- in details).
CREATE TABLE sign_ins (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    occurred_at BIGINT NOT NULL,
    user_id TEXT,
    app_id TEXT,
    status TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX sign_ins_tenant ON sign_ins (tenant_id, occurred_at);
