-- An allowed decision's usage event for its meter is recorded by its reservation, in the
-- same row (issue 24, item 1: "the reservation row is also the run's usage record"),
-- instead of by a usage_events row beside it: the reservation already holds the meter, the
-- bypass, the role and who acted; it gains the meter's period, the count the admission made
-- and the limit it was counted against. GET …/usage/events reads these reservations
-- (those with a period_start: written from this migration on) beside usage_events, which
-- keeps the key caps' events, the consume route's, and every event from before, through
-- the decisions' index of 0019. Nothing else is written per decision for it.
ALTER TABLE credit_reservations
  ADD COLUMN period_start timestamptz,
  ADD COLUMN used_after bigint,
  ADD COLUMN limit_value bigint;
