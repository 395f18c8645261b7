-- When the user last proved control of their email address: an identity provider's
-- verified claim that provisioned the account, or a password reset completed with the
-- mailed token. An identity provider's sign-in is linked to an existing account only when
-- it is set, so an account made with someone else's address (a signup, or a provider's
-- unverified claim) cannot have the owner's sign-ins linked to it. Accounts made before
-- this migration are unknown (NULL) until such a proof; links made before keep working.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
