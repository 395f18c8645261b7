-- A route's `secret_last_four` is what the API and the route.* audit entries show of its
-- secret; of a short one (an external ID may be 2 characters long) the last four are most
-- or all of it. Only a secret of 16 characters or more now shows its last four (routing
-- validate.ts lastFour); a shorter one shows nothing (NULL). The rows stored before are
-- cleared the same way: a secret's length is its ciphertext's (AES-GCM adds none, and the
-- secrets are ASCII), the last part of `v2.<keyId>.<nonce>.<tag>.<ciphertext>` in base64.
-- Not a change of the route: no version or generation moves (stamps.sql's trigger does
-- not watch this column).
ALTER TABLE tenant_routes ALTER COLUMN secret_last_four DROP NOT NULL;
SET LOCAL app.system = 'on';
UPDATE tenant_routes SET secret_last_four = NULL
 WHERE octet_length(decode(split_part(secret_sealed, '.', 5), 'base64')) < 16;
