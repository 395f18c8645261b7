-- An allowed decision is recorded by the reservation it opens, in the decision's own
-- commit, instead of by a decision-log row written up to a second later (issue 24, item 1:
-- "the reservation row is also ... its decision record"). The reservation gains what the
-- log row held beside it: who decided (principal type, id and user), the operation's
-- module and the request's id. GET …/decisions reads these reservations beside the log
-- (which keeps denials, replays, and the allowed decisions from before this migration),
-- newest first through this index; only reservations a decision opened since have a
-- principal_type, so the index holds nothing else.
ALTER TABLE credit_reservations
  ADD COLUMN principal_type text,
  ADD COLUMN principal_id text,
  ADD COLUMN user_id text,
  ADD COLUMN module text,
  ADD COLUMN request_id text;
CREATE INDEX credit_reservations_decisions_idx ON credit_reservations (tenant_id, created_at, decision_id) WHERE principal_type IS NOT NULL;
