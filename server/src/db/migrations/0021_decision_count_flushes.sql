-- The allowed decisions' day counts (usage_days' `allowed`) are added at a flush of the
-- decision log, in their own transaction (gate/log.ts). A write whose COMMIT went through
-- but whose reply was lost (a connection reset) looked failed, and its counts were added
-- again at the next flush. Each write of counts now claims its id here first, in the same
-- transaction: written again after such a loss, the claim finds its id and the counts are
-- not added twice. Ids are kept a day (each claim deletes the older ones), far past any
-- retry, which comes at the next flush.
CREATE TABLE decision_count_flushes (
  id         text PRIMARY KEY,
  created_at timestamptz NOT NULL
);
