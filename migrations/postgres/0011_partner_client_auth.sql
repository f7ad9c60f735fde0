-- How Gatehouse authenticates at an OIDC partner's token endpoint: client_secret_basic,
-- client_secret_post, private_key_jwt or none (NULL for SAML partners). Partners registered
-- before keep what they did: HTTP Basic with their secret, or a public client without one.
ALTER TABLE partner_idps ADD COLUMN client_auth TEXT;
UPDATE partner_idps SET client_auth = CASE
    WHEN client_secret IS NOT NULL THEN 'client_secret_basic'
    ELSE 'none'
END
WHERE kind = 'oidc';
