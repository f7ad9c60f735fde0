-- The address the user signed in from when a grant was given (the `ipaddr` optional claim of
-- the tokens minted from it, refreshes included).
ALTER TABLE grants ADD COLUMN ip TEXT;
