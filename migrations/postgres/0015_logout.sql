-- Which apps a browser session answered (OIDC codes, SAML assertions), so that ending the
-- session tells each of them (back-channel logout, front-channel iframes, SAML SLO). Kept
-- without a reference to the user or the session row: deleting a user must not lose them
-- before the notifications are queued.
CREATE TABLE session_apps (
    session_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name_id TEXT,
    name_id_format TEXT,
    session_index TEXT,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (session_id, app_id)
);
CREATE INDEX session_apps_user ON session_apps (tenant_id, user_id);

-- Back-channel logout notifications waiting to be delivered (OIDC Back-Channel Logout 1.0),
-- claimed with a lease by whichever node comes first, retried with backoff until they are
-- delivered or given up. The logout token is signed at each attempt; nothing here is secret.
CREATE TABLE logout_outbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    sub TEXT NOT NULL,
    sid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT,
    done_at BIGINT,
    gave_up BOOLEAN NOT NULL DEFAULT FALSE,
    last_error TEXT
);
CREATE INDEX logout_outbox_due ON logout_outbox (done_at, next_attempt_at);
