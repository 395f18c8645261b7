-- A key and the keys its rotations made are one lineage: they share the key's usage cap
-- (the meter key:<lineage id>) and its own rate bucket, so a rotation is not a fresh budget
-- for the period (the successor and the old key in its grace drew on one). The lineage
-- is named by its first key; keys made before this migration get theirs from their
-- rotated_from chain (a key whose predecessor is gone starts its own).
ALTER TABLE api_keys ADD COLUMN lineage_id text;
-- Every tenant's keys, whatever role runs the migration (api_keys forces row-level security).
SET LOCAL app.system = 'on';
WITH RECURSIVE chain AS (
  SELECT tenant_id, id, id AS lineage FROM api_keys WHERE rotated_from IS NULL
  UNION ALL
  SELECT k.tenant_id, k.id, c.lineage FROM api_keys k JOIN chain c ON k.tenant_id = c.tenant_id AND k.rotated_from = c.id
)
UPDATE api_keys k SET lineage_id = chain.lineage FROM chain WHERE k.tenant_id = chain.tenant_id AND k.id = chain.id;
UPDATE api_keys SET lineage_id = id WHERE lineage_id IS NULL;
ALTER TABLE api_keys ALTER COLUMN lineage_id SET NOT NULL;
