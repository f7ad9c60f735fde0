-- The directory an administrator manages (issue 16): a group's description and whether it is
-- a security group (the `groups` claim can be limited to those); groups nested in groups
-- (resolved to at most 8 levels, see services::membership); a user's job title and usage
-- location.
ALTER TABLE groups ADD COLUMN description TEXT;
ALTER TABLE groups ADD COLUMN security_enabled BOOLEAN NOT NULL DEFAULT TRUE;

-- `member_id` is a group that is a direct member of `group_id` (users stay in group_members).
CREATE TABLE group_nesting (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_nesting_member ON group_nesting (member_id);
CREATE INDEX group_owners_user ON group_owners (user_id);

ALTER TABLE users ADD COLUMN job_title TEXT;
ALTER TABLE users ADD COLUMN usage_location TEXT;
