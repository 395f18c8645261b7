-- Events and outbound webhooks (modules/webhooks, docs/webhooks.md).
--
-- webhook_events is the outbox: an event is written in the transaction of the change it
-- announces (db/functions/events.sql tollgate_publish), so a crash between the commit and
-- the delivery loses nothing. The dispatcher fans each event out once (dispatched_at, under
-- FOR UPDATE SKIP LOCKED) into one delivery per matching endpoint, and delivers each at
-- least once; the event's id is the webhook-id of every attempt.

CREATE TABLE webhook_events (
  tenant_id     text NOT NULL,
  id            text NOT NULL,
  type          text NOT NULL,
  data          jsonb NOT NULL,
  created_at    timestamptz NOT NULL,
  dispatched_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
-- The dispatcher's work list: events not fanned out yet, oldest first.
CREATE INDEX webhook_events_pending_idx ON webhook_events (created_at, id) WHERE dispatched_at IS NULL;
CREATE INDEX webhook_events_created_idx ON webhook_events (created_at);
SELECT tollgate_isolate_by_tenant(ARRAY['webhook_events']);

-- An endpoint: a tenant's (owner_tenant_id, its own events) or an operator's (owner_tenant_id
-- NULL: every tenant's events). Not a tenant-scoped table in the catalog's sense (an
-- operator's endpoint has no tenant), but walled all the same: a tenant sees its own rows,
-- an operator's rows only the system scope.
CREATE TABLE webhook_endpoints (
  id                   text PRIMARY KEY,
  owner_tenant_id      text REFERENCES tenants (id),
  url                  text NOT NULL,
  events               text[] NOT NULL,
  description          text,
  -- The whsec_ secret, sealed under the master secret (AES-256-GCM): it must be recovered to sign.
  secret_sealed        text NOT NULL,
  status               text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  created_by           text,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL,
  -- Failing since the first failed attempt after a success; cleared by a success.
  failing_since        timestamptz,
  consecutive_failures integer NOT NULL DEFAULT 0,
  disabled_at          timestamptz,
  disabled_reason      text
);
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner_tenant_id, created_at DESC, id DESC);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
DO $$ BEGIN
  EXECUTE format('CREATE POLICY tenant_isolation ON webhook_endpoints USING (%s) WITH CHECK (%s)',
                 tollgate_wall('owner_tenant_id'), tollgate_wall('owner_tenant_id'));
END $$;

-- One delivery of an event to an endpoint: its state and its last attempt (the delivery log).
-- tenant_id is the event's tenant (an operator's endpoint receives every tenant's).
CREATE TABLE webhook_deliveries (
  tenant_id       text NOT NULL,
  id              text NOT NULL,
  endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id        text NOT NULL,
  event_type      text NOT NULL,
  status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_attempt_at timestamptz,
  response_status integer,
  last_error      text,
  -- A claim by one dispatcher (any process): others skip the row until lease_until.
  lease_until     timestamptz,
  lease_token     text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (tenant_id, event_id);
SELECT tollgate_isolate_by_tenant(ARRAY['webhook_deliveries']);

-- limit.threshold: once per tenant, meter, period and threshold. The primary key is the
-- "once": a crossing is announced only by the statement that inserts its row.
CREATE TABLE limit_crossings (
  tenant_id    text NOT NULL,
  meter        text NOT NULL,
  period_start timestamptz NOT NULL,
  threshold    smallint NOT NULL CHECK (threshold IN (50, 80, 100)),
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, meter, period_start, threshold)
);
SELECT tollgate_isolate_by_tenant(ARRAY['limit_crossings']);

-- credits.low: whether a tenant's available credits are below the threshold; an event when
-- this turns true, re-armed when it turns false again.
CREATE TABLE credit_alerts (
  tenant_id  text PRIMARY KEY,
  low        boolean NOT NULL,
  changed_at timestamptz NOT NULL
);
SELECT tollgate_isolate_by_tenant(ARRAY['credit_alerts']);
