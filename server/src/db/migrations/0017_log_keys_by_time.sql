-- The two append-only logs the hot path writes, usage_events (a row per admitted run's
-- meter) and decision_log (a row per allowed decision), were each kept in two B-trees:
-- the primary key (tenant_id, id) and the newest-first index (tenant_id, created_at, id)
-- their lists page by. Nothing reads either by id alone, and a row's id never moves to
-- another instant, so the newest-first index is made the primary key and the other is
-- dropped: one index entry per row instead of two (issue 24, item 1). A retried flush of
-- the decision log still meets its rows already written (same tenant, instant and id),
-- so `ON CONFLICT DO NOTHING` keeps skipping them. Ascending: a primary key is; the lists
-- read it backwards.
CREATE UNIQUE INDEX usage_events_time_key ON usage_events (tenant_id, created_at, id);
ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey;
DROP INDEX usage_events_tenant_time_idx;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY USING INDEX usage_events_time_key;

CREATE UNIQUE INDEX decision_log_time_key ON decision_log (tenant_id, created_at, id);
ALTER TABLE decision_log DROP CONSTRAINT decision_log_pkey;
DROP INDEX decision_log_tenant_time_idx;
ALTER TABLE decision_log ADD CONSTRAINT decision_log_pkey PRIMARY KEY USING INDEX decision_log_time_key;

-- The refusals alone (GET …/decisions?allowed=false, the console's denials) in their own
-- small index: a tenant's log is mostly allowed rows, which a scan of the key would step
-- over one by one. Denials are counted rows (0016), so this costs the hot path little.
CREATE INDEX decision_log_denials_idx ON decision_log (tenant_id, created_at, id) WHERE NOT allowed;
