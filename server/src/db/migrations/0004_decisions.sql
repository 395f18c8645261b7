-- The decision log (every /v1/authorize answer, written in batches) and the first answer
-- per idempotency key (written in the decision's own transaction, so a retry replays it).

CREATE TABLE decision_log (
  tenant_id       text NOT NULL,
  id              text NOT NULL,
  principal_type  text NOT NULL,
  principal_id    text,
  user_id         text,
  operation       text NOT NULL,
  module          text,
  model           text,
  allowed         boolean NOT NULL,
  code            text NOT NULL,
  credits         bigint,
  reservation_id  text,
  bypass          jsonb,
  idempotency_key text,
  replayed        boolean NOT NULL DEFAULT false,
  request_id      text,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX decision_log_tenant_time_idx ON decision_log (tenant_id, created_at DESC, id DESC);

CREATE TABLE decision_replays (
  tenant_id       text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash    text NOT NULL,
  decision        jsonb NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, idempotency_key)
);

SELECT tollgate_isolate_by_tenant(ARRAY['decision_log', 'decision_replays']);
