-- Credentials: tenant API keys and operator-issued service keys.
-- Only the SHA-256 of a key is stored (the key is shown once, at creation); keys are
-- found by that hash. prefix and last_four are what a list may show again.

CREATE TABLE api_keys (
  tenant_id     text NOT NULL REFERENCES tenants (id),
  id            text NOT NULL,
  name          text NOT NULL,
  prefix        text NOT NULL,
  last_four     text NOT NULL,
  key_hash      text NOT NULL,
  scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['authorize', 'read', 'manage']),
  expires_at    timestamptz,
  revoked_at    timestamptz,
  rate_limit    integer CHECK (rate_limit > 0),
  rate_limit_window_seconds integer CHECK (rate_limit_window_seconds > 0),
  usage_cap     bigint CHECK (usage_cap > 0),
  last_used_at  timestamptz,
  -- the user (or key) that created it; no foreign key: the tenant owns its keys, so
  -- they outlive the membership of whoever created them
  created_by    text NOT NULL,
  -- a rotated key names its predecessor, which keeps working until grace_until
  rotated_from  text,
  grace_until   timestamptz,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  CHECK ((rate_limit IS NULL) = (rate_limit_window_seconds IS NULL))
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);

CREATE TABLE service_keys (
  id           text PRIMARY KEY,
  name         text NOT NULL,
  prefix       text NOT NULL,
  last_four    text NOT NULL,
  key_hash     text NOT NULL,
  created_by   text NOT NULL REFERENCES users (id),
  revoked_at   timestamptz,
  last_used_at timestamptz,
  created_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX service_keys_key_hash_key ON service_keys (key_hash);

-- Same wall as 0001: a key row is visible only inside its tenant's transaction, or in
-- a system transaction (credential lookup by hash). Service keys belong to no tenant.
SELECT tollgate_isolate_by_tenant(ARRAY['api_keys']);
