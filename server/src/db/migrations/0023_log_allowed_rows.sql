-- Since 0019 an allowed decision is recorded by its reservation, and the decision log
-- holds mostly refusals (counted rows, 0016): its allowed rows are the replays and the
-- allowed decisions logged before 0019. GET …/decisions?allowed=true read them through a
-- scan of the key that stepped over every refusal in the tenant's history on each page;
-- they get a small index of their own, as the refusals have (0017). Few rows reach it:
-- the hot path writes none of them.
CREATE INDEX decision_log_allowed_idx ON decision_log (tenant_id, created_at, id) WHERE allowed;
