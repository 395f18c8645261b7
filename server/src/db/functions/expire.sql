-- The expiry of a reservation, written once: the sweeper and a late settle (through
-- credits/reservations.ts expire) and the decision refused for credits (decide.sql
-- tollgate_admit) all close an unsettled hold past its expires_at here, the same way —
-- status expired, nothing charged, its hold out of the account's reserved, its
-- concurrent-run slot freed (with the tenant's count), the run's usage record written. No
-- ledger entry: an expiry moves no balance (credits/repo.ts resolve says why).
--
-- `ids` names the holds to expire (the sweeper's work list, a late settle's own), each only
-- if it is still held and due at `at`; a resolution racing one is waited for, as settle and
-- release wait (the reservation's row, then the account). Null: every hold of the tenant
-- due at `at`, skipping any another transaction is resolving right now (its hold leaves
-- the account when that commits): the decision calls it holding the account's lock, and
-- to wait there on a reservation whose resolver waits for the account would be a deadlock.
--
-- Answers how many holds expired, the credits they released and the run slots they freed.
CREATE OR REPLACE FUNCTION tollgate_expire(tid text, ids text[], at timestamptz, OUT expired int, OUT released bigint, OUT freed int)
LANGUAGE plpgsql AS $fn$
DECLARE
  due  text[] := ids;
  gone text[];
BEGIN
  expired := 0; released := 0; freed := 0;
  IF due IS NULL THEN
    SELECT array_agg(d.id) INTO due FROM (
      SELECT cr.id FROM credit_reservations cr
       WHERE cr.tenant_id = tid AND cr.status = 'held' AND cr.expires_at <= at
         FOR UPDATE SKIP LOCKED
    ) d;
    IF due IS NULL THEN RETURN; END IF;
  END IF;

  -- The conditional update is the gate (as credits/repo.ts resolve's): a hold resolved once.
  WITH r AS (
    UPDATE credit_reservations cr SET status = 'expired', charged = 0, resolved_at = at
     WHERE cr.tenant_id = tid AND cr.id = ANY (due) AND cr.status = 'held' AND cr.expires_at <= at
    RETURNING cr.id, cr.amount, cr.meter, cr.bypass, cr.operation, cr.model, cr.route, cr.actor_type, cr.actor_id, cr.role,
              cr.idempotency_key, cr.created_at
  ), recorded AS (
    -- The run's usage record, as usage/service.ts record writes one for a settle or a release
    -- (the call's own key: a decision's reservation key less its `authorize:`, gate/prepare.ts).
    -- Nothing charged and no meter counted: no day count moves.
    INSERT INTO usage_records (tenant_id, id, reservation_id, outcome, meter, bypass, operation, model, route, quantity,
                               reserved, credits, actor_type, actor_id, role, idempotency_key, reserved_at, created_at)
    SELECT tid, tollgate_new_id('usg', at), r.id, 'expired', r.meter, r.bypass, r.operation, r.model, r.route, NULL,
           r.amount, 0, r.actor_type, r.actor_id, r.role,
           CASE WHEN r.idempotency_key LIKE 'authorize:%' THEN substr(r.idempotency_key, 11) ELSE r.idempotency_key END, r.created_at, at
      FROM r
    ON CONFLICT DO NOTHING
  )
  SELECT count(*)::int, coalesce(sum(r.amount), 0)::bigint, array_agg(r.id) INTO expired, released, gone FROM r;
  IF expired = 0 THEN RETURN; END IF;

  UPDATE credit_accounts SET reserved = reserved - released, updated_at = at WHERE tenant_id = tid;

  -- Most holds have no slot (a run limit was not set, or it was a reserve): those take no
  -- lock. A slot's count row is locked before the slot, as everywhere (limits/repo.ts).
  IF EXISTS (SELECT 1 FROM run_slots s WHERE s.tenant_id = tid AND s.id = ANY (gone)) THEN
    PERFORM 1 FROM run_leases rl WHERE rl.tenant_id = tid FOR UPDATE;
    WITH s AS (DELETE FROM run_slots s WHERE s.tenant_id = tid AND s.id = ANY (gone) RETURNING 1)
    SELECT count(*)::int INTO freed FROM s;
    UPDATE run_leases SET held = held - freed, updated_at = at WHERE tenant_id = tid AND freed > 0;
  END IF;
END $fn$;
