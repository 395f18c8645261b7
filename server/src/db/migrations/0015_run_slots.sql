-- Concurrent-run slots as rows of their own, with a count per tenant kept beside them.
--
-- Until now a tenant's live leases were one jsonb object on its run_leases row: every
-- decision counted and rewrote the whole object, so its cost grew with the tenant's open
-- runs (issue 24 measured throughput falling to a third at ~400 open reservations per
-- tenant). Now the decision reads run_leases.held (one number, under the row lock it
-- already took), deletes only the tenant's slots that have expired since (each slot is
-- deleted once, so this is O(1) amortized per decision), and inserts one row per admitted
-- run. Settling or releasing a run deletes its slot and decrements the count.
CREATE TABLE run_slots (
  tenant_id  text NOT NULL,
  id         text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX run_slots_expiry_idx ON run_slots (tenant_id, expires_at);

ALTER TABLE run_leases ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);

SET LOCAL app.system = 'on';
INSERT INTO run_slots (tenant_id, id, expires_at)
SELECT rl.tenant_id, e.key, e.value::timestamptz FROM run_leases rl, jsonb_each_text(rl.leases) e;
UPDATE run_leases rl SET held = (SELECT count(*) FROM run_slots s WHERE s.tenant_id = rl.tenant_id);
ALTER TABLE run_leases DROP COLUMN leases;

SELECT tollgate_isolate_by_tenant(ARRAY['run_slots']);
