-- Foundation: users, tenants, memberships, invitations, subscriptions, audit log,
-- sign-in tokens and signing keys.
-- Tenant-scoped tables carry a NOT NULL tenant_id that leads their keys, so they can
-- be distributed by tenant; row-level security is enabled per table in this file
-- and the server's role gets its grants from migrate.ts.

CREATE TABLE users (
  id            text PRIMARY KEY,
  email         text NOT NULL,
  name          text,
  password_hash text,
  is_operator   boolean NOT NULL DEFAULT false,
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
  personal_tenant_id text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE external_identities (
  provider   text NOT NULL,
  subject    text NOT NULL,
  user_id    text NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, subject)
);
CREATE INDEX external_identities_user_idx ON external_identities (user_id);

CREATE TABLE tenants (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('personal', 'team')),
  status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_name_idx ON tenants (lower(name));

CREATE TABLE memberships (
  tenant_id  text NOT NULL REFERENCES tenants (id),
  user_id    text NOT NULL REFERENCES users (id),
  role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE invitations (
  tenant_id   text NOT NULL REFERENCES tenants (id),
  id          text NOT NULL,
  email       text NOT NULL,
  role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  token_hash  text NOT NULL UNIQUE,
  invited_by  text NOT NULL REFERENCES users (id),
  expires_at  timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by text REFERENCES users (id),
  revoked_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE subscriptions (
  tenant_id            text PRIMARY KEY REFERENCES tenants (id),
  id                   text NOT NULL UNIQUE,
  plan                 text NOT NULL,
  status               text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'pending_payment', 'canceled', 'suspended')),
  current_period_start timestamptz NOT NULL,
  current_period_end   timestamptz NOT NULL,
  trial_ends_at        timestamptz,
  past_due_since       timestamptz,
  payment_method       text CHECK (payment_method IN ('stripe', 'paypal', 'bank_transfer')),
  external_payment_id  text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
  tenant_id   text NOT NULL,
  id          text NOT NULL,
  actor_type  text NOT NULL,
  actor_id    text,
  action      text NOT NULL,
  target_type text,
  target_id   text,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_tenant_time_idx ON audit_log (tenant_id, created_at DESC, id DESC);

-- Refresh tokens rotate within a family; reuse of a spent one revokes the family.
CREATE TABLE refresh_tokens (
  id         text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES users (id),
  family_id  text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE password_reset_tokens (
  id         text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES users (id),
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
  kid                 text PRIMARY KEY,
  alg                 text NOT NULL,
  public_jwk          jsonb NOT NULL,
  private_jwk_sealed  text NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  retired_at          timestamptz
);

-- Row-level security: the second wall behind the service's own tenant checks.
-- A row is visible when the transaction-local app.tenant_id names its tenant, or
-- when the transaction declared itself a system transaction (credential lookup,
-- operator search); with neither set, no row matches.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = current_setting('app.tenant_id', true) OR current_setting('app.system', true) = 'on')
  WITH CHECK (id = current_setting('app.tenant_id', true) OR current_setting('app.system', true) = 'on');

-- One definition of the tenant wall, applied by every migration to every tenant-scoped table.
CREATE FUNCTION tollgate_isolate_by_tenant(tables text[]) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY tables LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
      USING (tenant_id = current_setting('app.tenant_id', true) OR current_setting('app.system', true) = 'on')
      WITH CHECK (tenant_id = current_setting('app.tenant_id', true) OR current_setting('app.system', true) = 'on')$p$, t);
  END LOOP;
END $fn$;
REVOKE EXECUTE ON FUNCTION tollgate_isolate_by_tenant(text[]) FROM PUBLIC;

SELECT tollgate_isolate_by_tenant(ARRAY['memberships', 'invitations', 'subscriptions', 'audit_log']);
