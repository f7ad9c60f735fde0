-- The identity provider a sign-in came through (the idp claim of the tokens minted from
-- the grant): absent for local credentials, "mail" for e-mail passcodes, an issuer when federated.
ALTER TABLE grants ADD COLUMN idp TEXT;
