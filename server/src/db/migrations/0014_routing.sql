-- Provider routing (modules/routing, docs/routing.md): a tenant's own provider accounts.
-- A route is a Bedrock role (region, role ARN, external ID) or a provider key (OpenAI,
-- Anthropic: key, base URL); `models` are globs matched against the decision's model, the
-- first enabled route (oldest first) that matches runs the call on the tenant's account.
-- The secret (the external ID, or the key) is kept sealed only: AES-256-GCM under the
-- master secret, the sealing key's id in the value, bound to its row (lib/secrets.ts
-- Sealer); `secret_last_four` is all that is ever shown of it. `version` moves with every
-- change, so credentials cached for a route are never served after it changed.
CREATE TABLE tenant_routes (
  tenant_id        text NOT NULL REFERENCES tenants (id),
  name             text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  provider         text NOT NULL CHECK (provider IN ('bedrock', 'openai', 'anthropic')),
  region           text,
  role_arn         text,
  base_url         text,
  models           text[] NOT NULL,
  enabled          boolean NOT NULL,
  secret_sealed    text NOT NULL CHECK (secret_sealed ~ '^v2\.'),
  secret_last_four text NOT NULL,
  version          bigint NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, name),
  CHECK ((provider = 'bedrock') = (region IS NOT NULL AND role_arn IS NOT NULL)),
  CHECK (provider <> 'bedrock' OR base_url IS NULL)
);
SELECT tollgate_isolate_by_tenant(ARRAY['tenant_routes']);
-- A route change bumps the tenant's generation (db/functions/stamps.sql), like every
-- other change the decision's rules read.

-- The decision that opened a reservation: POST /v1/routes/credentials finds the decision's
-- route by it, in the decision's own transaction's row (the decision log is written later).
ALTER TABLE credit_reservations ADD COLUMN decision_id text;
CREATE INDEX credit_reservations_decision_idx ON credit_reservations (decision_id) WHERE decision_id IS NOT NULL;

-- The batch's request record gains the decision id (dec_id): its type changes, so the
-- function is dropped here and made again from db/functions/decide.sql.
DROP FUNCTION IF EXISTS tollgate_decide_requests(jsonb);

-- An API key may carry the `credentials` scope: it may ask for the provider credentials of
-- its tenant's decisions (POST /v1/routes/credentials), and nothing else by it.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
  CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['authorize', 'read', 'manage', 'credentials']);
