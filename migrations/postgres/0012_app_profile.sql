-- An app's roles, claims configuration, logout URIs, client keys, token lifetimes and logo
-- (domain::app_profile::AppProfile as JSON; absent fields take their defaults).
ALTER TABLE apps ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
