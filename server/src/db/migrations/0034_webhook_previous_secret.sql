-- An endpoint's whsec_ secret can be rotated (POST …/webhooks/{id}/rotate-secret): the one
-- it replaces is kept, sealed as it was, and deliveries are signed with both until
-- previous_secret_expires_at (webhooks.secretGraceSeconds), so a receiver can move to the
-- new one without losing an event. Before, the only way to change it was to delete the
-- endpoint (and its delivery log) and make another.
ALTER TABLE webhook_endpoints
  ADD COLUMN previous_secret_sealed text,
  ADD COLUMN previous_secret_expires_at timestamptz,
  ADD CONSTRAINT webhook_endpoints_previous_secret_check CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL));
