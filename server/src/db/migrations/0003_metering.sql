-- Metering: per-tenant plan overrides and module switches, usage counters and their
-- log, concurrent-run leases, credit accounts, reservations and the credit ledger.
-- Every table is tenant-scoped: tenant_id is NOT NULL and leads its keys.

-- The backfill below reads every tenant, whatever role runs the migration.
SELECT set_config('app.system', 'on', true);

-- Operator overrides of the plan: limits per meter (and "concurrentRuns"), enterprise flag.
CREATE TABLE tenant_overrides (
  tenant_id  text PRIMARY KEY REFERENCES tenants (id),
  limits     jsonb NOT NULL DEFAULT '{}'::jsonb,
  enterprise boolean,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A switch row exists only once an owner/admin flipped it; absent means "as the plan says".
CREATE TABLE tenant_modules (
  tenant_id  text NOT NULL REFERENCES tenants (id),
  module     text NOT NULL,
  enabled    boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, module)
);

-- One row per tenant × meter × period; consumed by one conditional upsert.
CREATE TABLE usage_counters (
  tenant_id    text NOT NULL,
  meter        text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end   timestamptz NOT NULL,
  used         bigint NOT NULL CHECK (used >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter, period_start)
);

-- Append-only log of admitted consumption; bypass marks a role that passed a full meter.
CREATE TABLE usage_events (
  tenant_id      text NOT NULL,
  id             text NOT NULL,
  meter          text NOT NULL,
  quantity       bigint NOT NULL,
  period_start   timestamptz NOT NULL,
  bypass         boolean NOT NULL DEFAULT false,
  role           text,
  actor_type     text NOT NULL,
  actor_id       text,
  used_after     bigint NOT NULL,
  limit_value    bigint,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX usage_events_tenant_time_idx ON usage_events (tenant_id, created_at DESC, id DESC);

-- Concurrent runs: one row per tenant holding its live leases as {leaseId: expiresAt},
-- so acquiring a slot is one conditional upsert on one row (expired leases are pruned).
CREATE TABLE run_leases (
  tenant_id  text PRIMARY KEY,
  leases     jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- balance = Σ ledger.amount, reserved = Σ ledger.hold; available = balance - reserved ≥ 0.
CREATE TABLE credit_accounts (
  tenant_id  text PRIMARY KEY,
  balance    bigint NOT NULL CHECK (balance >= 0),
  reserved   bigint NOT NULL CHECK (reserved >= 0 AND reserved <= balance),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Tenants that exist before this migration get an empty account (the migration runs as the owner).
INSERT INTO credit_accounts (tenant_id, balance, reserved) SELECT id, 0, 0 FROM tenants;

CREATE TABLE credit_reservations (
  tenant_id       text NOT NULL,
  id              text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash    text NOT NULL,
  operation       text,
  model           text,
  amount          bigint NOT NULL CHECK (amount >= 0),
  status          text NOT NULL CHECK (status IN ('held', 'settled', 'released', 'expired')),
  charged         bigint NOT NULL DEFAULT 0 CHECK (charged >= 0 AND charged <= amount),
  refunded        bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= charged),
  expires_at      timestamptz NOT NULL,
  resolved_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX credit_reservations_due_idx ON credit_reservations (expires_at) WHERE status = 'held';

CREATE TABLE credit_ledger (
  tenant_id       text NOT NULL,
  id              text NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('grant', 'reserve', 'settle', 'release', 'expire', 'refund', 'adjust')),
  amount          bigint NOT NULL,
  hold            bigint NOT NULL,
  balance_after   bigint NOT NULL,
  reserved_after  bigint NOT NULL,
  reservation_id  text,
  idempotency_key text NOT NULL,
  request_hash    text NOT NULL,
  reason          text,
  actor_type      text NOT NULL,
  actor_id        text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX credit_ledger_tenant_time_idx ON credit_ledger (tenant_id, created_at DESC, id DESC);

SELECT tollgate_isolate_by_tenant(ARRAY['tenant_overrides', 'tenant_modules', 'usage_counters', 'usage_events', 'run_leases',
                                        'credit_accounts', 'credit_reservations', 'credit_ledger']);
