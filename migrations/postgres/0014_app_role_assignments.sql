-- App-role assignments (Graph appRoleAssignment): a user, group or another app (service
-- principal) holds one role of an app; the nil role id is default access. Existing
-- assignments become default-access assignments.
CREATE TABLE app_role_assignments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    app_role_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, principal_id, app_role_id)
);
CREATE INDEX app_role_assignments_principal ON app_role_assignments (principal_id);
INSERT INTO app_role_assignments (id, tenant_id, app_id, principal_id, principal_type, app_role_id, created_at)
SELECT gen_random_uuid()::text, apps.tenant_id, a.app_id, a.principal_id,
       CASE lower(a.principal_type) WHEN 'user' THEN 'User' WHEN 'group' THEN 'Group' ELSE a.principal_type END,
       '00000000-0000-0000-0000-000000000000', a.created_at
FROM app_assignments a JOIN apps ON apps.id = a.app_id;
DROP TABLE app_assignments;
-- A deleted principal's assignments go with it.
CREATE FUNCTION app_role_assignments_principal_deleted() RETURNS trigger AS $$
BEGIN
    DELETE FROM app_role_assignments WHERE principal_id = OLD.id;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER app_role_assignments_user_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION app_role_assignments_principal_deleted();
CREATE TRIGGER app_role_assignments_group_deleted AFTER DELETE ON groups
    FOR EACH ROW EXECUTE FUNCTION app_role_assignments_principal_deleted();
CREATE TRIGGER app_role_assignments_app_deleted AFTER DELETE ON apps
    FOR EACH ROW EXECUTE FUNCTION app_role_assignments_principal_deleted();
