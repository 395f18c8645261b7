-- What a run finally was: one record per reservation settled, released or expired, written
-- in the resolving transaction (the reservation's origin columns of 0011 copied beside the
-- outcome). usage_events (0003) stays what it is: the admission log the meters count.
CREATE TABLE usage_records (
  tenant_id       text NOT NULL,
  id              text NOT NULL,
  reservation_id  text NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('settled', 'released', 'expired')),
  meter           text,
  bypass          boolean NOT NULL DEFAULT false,
  operation       text,
  model           text,
  route           jsonb,
  quantity        jsonb,
  reserved        bigint NOT NULL CHECK (reserved >= 0),
  credits         bigint NOT NULL CHECK (credits >= 0),
  actor_type      text,
  actor_id        text,
  role            text,
  idempotency_key text NOT NULL,
  reserved_at     timestamptz NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, reservation_id)
);
-- The export reads a tenant's records oldest first, a keyset page at a time.
CREATE INDEX usage_records_tenant_time_idx ON usage_records (tenant_id, created_at, id);

-- Per tenant and UTC day, counters kept current in the transactions that change them:
-- key 'credits' (credits charged), 'meter:<meter>' (settled runs on the meter),
-- 'allowed' and 'denied:<CODE>' (decisions, added with the decision log's batch write).
CREATE TABLE usage_days (
  tenant_id text NOT NULL,
  day       date NOT NULL,
  key       text NOT NULL,
  n         bigint NOT NULL,
  PRIMARY KEY (tenant_id, day, key)
);

SELECT tollgate_isolate_by_tenant(ARRAY['usage_records', 'usage_days']);
