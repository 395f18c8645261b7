-- One decision, one implementation: the rules of the decision are applied in TypeScript
-- (gate/prepare.ts) to a cached snapshot of the tenant; the database's part
-- (db/functions/decide.sql) is the exact one: that the snapshot is still current, then
-- check-and-increment, insert, answer.
--
-- "Still current" is a stamp: a generation counter on each row whose state a decision's
-- rules read, bumped by triggers (db/functions/stamps.sql) whenever that state changes,
-- in the same transaction as the change:
--   tenants.generation       the tenant's status, subscription, overrides, module
--                            switches, memberships and API keys;
--   users.generation         a user's status and password resets (sessions_valid_after);
--   service_keys.generation  a service key's revocation.
-- A cached snapshot remembers the generations it was read at; the decision statement
-- compares them with the rows and answers "stale" on any difference, and the caller
-- reads afresh and decides again. So a change made in another process a moment ago is
-- honoured on the very next request, whatever this process's caches hold.
ALTER TABLE tenants ADD COLUMN generation bigint NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN generation bigint NOT NULL DEFAULT 1;
ALTER TABLE service_keys ADD COLUMN generation bigint NOT NULL DEFAULT 1;

-- A stored answer is now the request as the caller described it and the outcome the
-- statement found (both jsonb), spelled into a decision by the caller (gate/outcome.ts),
-- so a replay is spelled by the same code as the first answer. Answers stored before
-- keep their spelled decision.
ALTER TABLE decision_replays ALTER COLUMN decision DROP NOT NULL;
ALTER TABLE decision_replays ADD COLUMN answer jsonb;
ALTER TABLE decision_replays ADD CONSTRAINT decision_replays_one_form CHECK ((decision IS NULL) <> (answer IS NULL));

-- The decision of 0005-0008, its helpers and their context parameter are replaced by
-- db/functions/decide.sql, applied after the migrations.
DROP FUNCTION tollgate_decide(jsonb, jsonb);
DROP FUNCTION tollgate_refusal(jsonb, text, jsonb, jsonb);
DROP FUNCTION tollgate_limit_view(text, bigint, bigint, text);
