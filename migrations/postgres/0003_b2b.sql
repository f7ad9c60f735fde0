-- B2B collaboration: tenant settings, guest attributes, identities, groups, app owners and
-- assignments, invitations, the mail outbox and the audit log.

ALTER TABLE tenants ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

ALTER TABLE users ADD COLUMN external_user_state TEXT;
ALTER TABLE users ADD COLUMN external_user_state_changed_at BIGINT;
ALTER TABLE users ADD COLUMN creation_type TEXT;
ALTER TABLE users ADD COLUMN sponsors TEXT NOT NULL DEFAULT '[]';

-- Graph permissions an app holds (delegated and application), its owners, home page, and
-- whether only assigned users may use it.
ALTER TABLE apps ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN owners TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN home_url TEXT;
ALTER TABLE apps ADD COLUMN assignment_required BOOLEAN NOT NULL DEFAULT FALSE;

-- How a user signs in: keyed on (issuer, subject), never on an e-mail address.
CREATE TABLE user_identities (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sign_in_type TEXT NOT NULL,
    issuer TEXT NOT NULL,
    issuer_assigned_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, issuer, issuer_assigned_id)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);
CREATE TABLE group_owners (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE app_assignments (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, principal_id)
);
CREATE INDEX app_assignments_principal ON app_assignments (principal_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    display_name TEXT,
    redirect_url TEXT NOT NULL,
    inviter_id TEXT NOT NULL,
    inviter_type TEXT NOT NULL,
    inviter_name TEXT NOT NULL,
    send_message BOOLEAN NOT NULL,
    message_info TEXT NOT NULL,
    invited_user_type TEXT NOT NULL,
    reset_redemption BOOLEAN NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    block_token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at);
CREATE INDEX invitations_email ON invitations (tenant_id, email_key);
CREATE INDEX invitations_user ON invitations (user_id);

-- Addresses that asked a tenant not to invite them again.
CREATE TABLE invitation_blocks (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, email_key)
);

-- Durable outbox: a message is stored with the change that causes it and sent later, with
-- retries, by whichever node claims it first.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    claimed_until BIGINT,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    occurred_at BIGINT NOT NULL,
    category TEXT NOT NULL,
    activity TEXT NOT NULL,
    result TEXT NOT NULL,
    initiated_by TEXT NOT NULL,
    targets TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, occurred_at);
