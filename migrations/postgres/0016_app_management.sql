-- Application management (issue 16): a client secret's display name (Graph
-- passwordCredential.displayName), the URL an SP's SAML metadata is refreshed from, and an
-- index to revoke an app's grants when it is deleted.
ALTER TABLE app_secrets ADD COLUMN display_name TEXT;
ALTER TABLE saml_sps ADD COLUMN metadata_url TEXT;
CREATE INDEX grants_client ON grants (client_id);
