-- The decision's exact part (docs/architecture.md). The rules — standing, plan, module,
-- model, rate, price, bypass — are applied in TypeScript (gate/prepare.ts) to a cached
-- snapshot; a batch of its answers comes here (gate/statement.ts), one statement and one
-- commit for all, and this file does only what must be exact under concurrency:
--
-- 1. take the idempotency keys' locks, in one order;
-- 2. per request: its snapshot is still current (the stamps of migration 0009), else
--    "stale"; an answer stored under its idempotency key is replayed; a refusal decided
--    in TypeScript ("pre") is kept as it is;
-- 3. the others are admitted in arrival order while all of it fits — the meter, the key's
--    meter, a concurrent-run slot, the credits — each counter, account and slot-count row
--    locked once, in one global order, and written once;
-- 4. every answer given under an idempotency key is stored, so a retry replays it.
--
-- It answers typed values; the caller spells the decision (gate/outcome.ts).

-- Every version of the functions this file defines goes first: CREATE OR REPLACE cannot
-- change a function's arguments or result, and a changed signature would otherwise leave
-- the old version beside the new one. One transaction (db/migrate.ts), so no caller sees
-- them missing.
DO $drop$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = current_schema() AND (p.proname LIKE 'tollgate\_decide%' OR p.proname LIKE 'tollgate\_admit%')
  LOOP
    EXECUTE 'DROP FUNCTION ' || f;
  END LOOP;
END $drop$;
DROP TYPE IF EXISTS tollgate_request;

-- A request of the batch as a typed row, `ord` its place in the batch (from 1): the
-- caller (gate/statement.ts, DecideEntry) sends the batch as one array of these, which
-- every step unnests. Its fields are in the order the caller spells them (a test reads
-- them back). An array literal of rows is read in one pass, where the same batch as JSON
-- cost PostgreSQL ~8 µs more per request (parsed, then looked up by name and converted).
CREATE TYPE tollgate_request AS (ord int, tid text, tgen bigint, uid text, ugen bigint, skid text, skgen bigint, idem text, hash text, shape jsonb,
  pre jsonb, meter text, mlimit bigint, may_bypass boolean, kmeter text, kcap bigint, runs bigint, cost bigint, ps timestamptz, pe timestamptz,
  role text, res_id text, res_key text, res_hash text, op text, model text, expires timestamptz, event_id text, key_event_id text, audit_id text,
  actor_type text, actor_id text, request_id text, route jsonb, dec_id text, ptype text, pid text, puid text, module text);

-- An instant as JavaScript's Date#toISOString spells it (lease expiries, audit data).
CREATE OR REPLACE FUNCTION tollgate_iso(ts timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- What becomes of each request before anything is consumed: 'stale' (a stamp moved),
-- 'conflict' (its idempotency key holds another request's answer), 'replay' (it holds
-- this one's: `stored`), 'pre' (refused in TypeScript), or 'admit'.
CREATE OR REPLACE FUNCTION tollgate_decide_verdicts(reqs tollgate_request[])
RETURNS TABLE (ord int, verdict text, stored jsonb)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
BEGIN
  RETURN QUERY
  SELECT q.ord,
         CASE
           WHEN t.generation IS DISTINCT FROM q.tgen OR (q.uid IS NOT NULL AND u.generation IS DISTINCT FROM q.ugen)
             OR (q.skid IS NOT NULL AND sk.generation IS DISTINCT FROM q.skgen) THEN 'stale'
           WHEN dr.request_hash IS NOT NULL AND dr.request_hash <> q.hash THEN 'conflict'
           WHEN dr.request_hash IS NOT NULL THEN 'replay'
           WHEN q.pre IS NOT NULL THEN 'pre'
           ELSE 'admit'
         END,
         CASE WHEN dr.request_hash = q.hash THEN coalesce(dr.answer, jsonb_build_object('decision', dr.decision)) END
    FROM unnest(reqs) q
    LEFT JOIN tenants t ON t.id = q.tid
    LEFT JOIN users u ON u.id = q.uid
    LEFT JOIN service_keys sk ON sk.id = q.skid
    LEFT JOIN decision_replays dr ON dr.tenant_id = q.tid AND dr.idempotency_key = q.idem;
END $fn$;

-- The batch: one answer row per request, in the order given. `clow` is credits.low's
-- threshold (null: none configured); `at` is the caller's clock.
--
-- Planner settings: JIT off (a batch's estimates can pass jit_above_cost, and compiling
-- took most of a second for statements that run in a millisecond); generic plans
-- (planned once per connection); no sequential scans: every look-up is by key, and on a
-- small table the planner would rather scan it whole, evaluating the row-level security
-- policy on every row.
CREATE OR REPLACE FUNCTION tollgate_decide(reqs tollgate_request[], clow bigint, at timestamptz)
RETURNS TABLE (r_verdict text, r_stored jsonb, r_fail smallint, r_mu float8, r_ku float8, r_lu float8, r_bal float8, r_res float8, r_byp boolean)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  verdicts text[];
  stored   jsonb[];
  admit    int[];
BEGIN
  -- The tenant wall admits the batch's tenants (tollgate_wall): each established by the caller from a credential.
  PERFORM set_config('app.tenant_ids', (SELECT string_agg(DISTINCT q.tid, ',') FROM unnest(reqs) q), true);
  PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
     FROM (SELECT DISTINCT q.tid || ':authorize:' || q.idem AS k FROM unnest(reqs) q WHERE q.idem IS NOT NULL ORDER BY 1) keys;
  SELECT array_agg(v.verdict ORDER BY v.ord), array_agg(v.stored ORDER BY v.ord),
         coalesce(array_agg(v.ord ORDER BY v.ord) FILTER (WHERE v.verdict = 'admit'), '{}')
    INTO verdicts, stored, admit
    FROM tollgate_decide_verdicts(reqs) v;

  RETURN QUERY
  WITH admitted AS MATERIALIZED (SELECT * FROM tollgate_admit(reqs, clow, admit, at)),
  kept AS (
    -- Under the keys' locks: a retry sees this answer, allowed or refused.
    INSERT INTO decision_replays (tenant_id, idempotency_key, request_hash, answer, created_at)
    SELECT q.tid, q.idem, q.hash,
           jsonb_build_object('shape', q.shape, 'outcome', coalesce(q.pre, jsonb_build_object('kind', 'metered', 'fail', a.fail, 'meterUsed', a.mu,
             'keyUsed', a.ku, 'runsUsed', a.lu, 'balance', a.bal, 'reserved', a.res, 'bypass', a.byp))), at
      FROM unnest(reqs) q LEFT JOIN admitted a ON a.ord = q.ord
     WHERE q.idem IS NOT NULL AND (verdicts[q.ord] = 'admit' OR (verdicts[q.ord] = 'pre' AND q.pre->>'kind' = 'refused'))
    ON CONFLICT DO NOTHING
  )
  -- Counts as float8: exact to 2^53, and a number (not a string) in every driver.
  SELECT verdicts[n], stored[n], a.fail, a.mu::float8, a.ku::float8, a.lu::float8, a.bal::float8, a.res::float8, a.byp
    FROM generate_subscripts(verdicts, 1) AS n LEFT JOIN admitted a ON a.ord = n
   ORDER BY n;
END $fn$;

-- Admits the requests `admit` (their places in the batch) in arrival order, each only if
-- all of it fits; returns how each came out — fail 0 admitted, 1 the meter, 2 the key's
-- meter, 3 concurrent runs, 4 credits — with the counts as far as it got (a refusal shows
-- what is used, not what it would have made it) and the account after it.
CREATE OR REPLACE FUNCTION tollgate_admit(reqs tollgate_request[], clow bigint, admit int[], at timestamptz)
RETURNS TABLE (ord int, fail smallint, mu bigint, ku bigint, lu bigint, bal bigint, res bigint, byp boolean)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  c        record;   -- the candidates, as arrays in arrival order (tollgate_admit_rows)
  k_used   bigint[];
  k_limit  bigint[];
  a_bal    bigint[];
  a_res    bigint[];
  l_live   bigint[];
  o_fail   smallint[];
  o_mu     bigint[];
  o_ku     bigint[];
  o_lu     bigint[];
  o_bal    bigint[];
  o_res    bigint[];
  o_byp    boolean[];
  j        int;
  m_used   bigint;
BEGIN
  IF cardinality(admit) = 0 THEN RETURN; END IF;
  SELECT * INTO c FROM tollgate_admit_rows(reqs, admit, at);
  k_used := c.k_used; a_bal := c.a_bal; a_res := c.a_res; l_live := c.l_live;
  o_fail := array_fill(NULL::smallint, ARRAY[c.n]);
  o_mu := array_fill(NULL::bigint, ARRAY[c.n]); o_ku := o_mu; o_lu := o_mu; o_bal := o_mu; o_res := o_mu;
  o_byp := array_fill(false, ARRAY[c.n]);
  k_limit := array_fill(NULL::bigint, ARRAY[coalesce(cardinality(c.k_tid), 0)]);
  FOR j IN 1..c.n LOOP
    IF c.mi[j] IS NOT NULL THEN
      k_limit[c.mi[j]] := greatest(k_limit[c.mi[j]], c.mlimit[j]);  -- the limit its crossings are announced against
      m_used := k_used[c.mi[j]];
      o_mu[j] := m_used;
      IF c.mlimit[j] IS NOT NULL AND NOT c.may_bypass[j] AND m_used + 1 > c.mlimit[j] THEN o_fail[j] := 1; CONTINUE; END IF;
    END IF;
    IF c.ki[j] IS NOT NULL THEN
      o_ku[j] := k_used[c.ki[j]];
      IF o_ku[j] + 1 > c.kcap[j] THEN o_fail[j] := 2; CONTINUE; END IF;
    END IF;
    IF c.runs[j] IS NOT NULL THEN
      o_lu[j] := l_live[c.ti[j]];
      IF c.runs[j] < 1 OR o_lu[j] >= c.runs[j] THEN o_fail[j] := 3; CONTINUE; END IF;
    END IF;
    o_bal[j] := a_bal[c.ti[j]]; o_res[j] := a_res[c.ti[j]];
    IF NOT (c.a_found[c.ti[j]] AND o_bal[j] - o_res[j] >= c.cost[j]) THEN o_fail[j] := 4; CONTINUE; END IF;
    -- It fits: consume, and show the counts it made. Past a full meter only by its role's bypass.
    o_fail[j] := 0;
    IF c.mi[j] IS NOT NULL THEN
      o_mu[j] := o_mu[j] + 1; k_used[c.mi[j]] := o_mu[j];
      o_byp[j] := c.mlimit[j] IS NOT NULL AND o_mu[j] > c.mlimit[j];
    END IF;
    IF c.ki[j] IS NOT NULL THEN o_ku[j] := o_ku[j] + 1; k_used[c.ki[j]] := o_ku[j]; END IF;
    IF c.runs[j] IS NOT NULL THEN o_lu[j] := o_lu[j] + 1; l_live[c.ti[j]] := o_lu[j]; END IF;
    a_res[c.ti[j]] := a_res[c.ti[j]] + c.cost[j];
    o_res[j] := a_res[c.ti[j]];
  END LOOP;
  PERFORM tollgate_admit_counts(c.k_tid, c.k_meter, c.k_ps, c.k_pe, c.k_start, k_used, c.k_found, at);
  PERFORM tollgate_admit_accounts(c.t_id, a_res, c.a_res, c.l_found, c.l_held, l_live, c.any_runs, c.ti, c.runs, o_fail, c.res_id, c.expires, at);
  -- The events these changes announce (events.sql), in this transaction, under these locks.
  PERFORM tollgate_limit_crossings(c.k_tid, c.k_meter, c.k_ps, c.k_start, k_used, k_limit, at);
  -- No threshold configured (the default): not even the call.
  IF clow IS NOT NULL THEN PERFORM tollgate_credits_low(c.t_id, clow, at); END IF;
  PERFORM tollgate_admit_inserts(reqs, c.ord, o_fail, o_mu, o_ku, o_byp, at);
  RETURN QUERY SELECT x.ord, x.fail, x.mu, x.ku, x.lu, x.bal, x.res, x.byp
    FROM unnest(c.ord, o_fail, o_mu, o_ku, o_lu, o_bal, o_res, o_byp) AS x(ord, fail, mu, ku, lu, bal, res, byp);
END $fn$;

-- The candidates of tollgate_admit as arrays in arrival order, and the rows they consume,
-- each once and locked in one global order — the tenant, then its meter before its key's
-- meter (all counters, then all accounts, then all leases) — so that concurrent batches,
-- here or in another process, never wait on each other in a circle. `mi`/`ki` index a
-- candidate's counters in k_*, `ti` its tenant in t_id/a_*/l_*.
CREATE OR REPLACE FUNCTION tollgate_admit_rows(reqs tollgate_request[], admit int[], at timestamptz,
  OUT n int, OUT ord int[], OUT mlimit bigint[], OUT may_bypass boolean[], OUT kcap bigint[], OUT runs bigint[], OUT cost bigint[],
  OUT res_id text[], OUT expires timestamptz[], OUT mi int[], OUT ki int[], OUT ti int[],
  OUT k_tid text[], OUT k_meter text[], OUT k_ps timestamptz[], OUT k_pe timestamptz[], OUT k_used bigint[], OUT k_start bigint[], OUT k_found boolean[],
  OUT t_id text[], OUT a_found boolean[], OUT a_bal bigint[], OUT a_res bigint[], OUT l_found boolean[], OUT l_held bigint[], OUT l_live bigint[],
  OUT any_runs boolean)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  r record;
BEGIN
  WITH c AS (
    SELECT q.* FROM unnest(reqs) q WHERE q.ord = ANY (admit)
  ), w AS (
    SELECT d.tid, d.m, d.ps, d.pe, (row_number() OVER (ORDER BY d.tid, d.m LIKE 'key:%', d.m))::int AS i
      FROM (SELECT DISTINCT u.tid, u.m, u.ps, u.pe FROM (SELECT c.tid, c.meter AS m, c.ps, c.pe FROM c UNION ALL SELECT c.tid, c.kmeter, c.ps, c.pe FROM c) u
             WHERE u.m IS NOT NULL) d
  ), t AS (
    SELECT d.tid, (row_number() OVER (ORDER BY d.tid))::int AS i FROM (SELECT DISTINCT c.tid FROM c) d
  )
  SELECT count(*)::int, array_agg(c.ord ORDER BY c.ord), array_agg(c.mlimit ORDER BY c.ord), array_agg(coalesce(c.may_bypass, false) ORDER BY c.ord),
         array_agg(c.kcap ORDER BY c.ord), array_agg(c.runs ORDER BY c.ord), array_agg(c.cost ORDER BY c.ord),
         array_agg(c.res_id ORDER BY c.ord), array_agg(c.expires ORDER BY c.ord),
         array_agg(wm.i ORDER BY c.ord), array_agg(wk.i ORDER BY c.ord), array_agg(t.i ORDER BY c.ord), bool_or(c.runs IS NOT NULL),
         (SELECT array_agg(w.tid ORDER BY w.i) FROM w), (SELECT array_agg(w.m ORDER BY w.i) FROM w),
         (SELECT array_agg(w.ps ORDER BY w.i) FROM w), (SELECT array_agg(w.pe ORDER BY w.i) FROM w),
         (SELECT array_agg(t.tid ORDER BY t.i) FROM t)
    INTO n, ord, mlimit, may_bypass, kcap, runs, cost, res_id, expires, mi, ki, ti, any_runs, k_tid, k_meter, k_ps, k_pe, t_id
    FROM c JOIN t ON t.tid = c.tid
    LEFT JOIN w wm ON wm.tid = c.tid AND wm.m = c.meter
    LEFT JOIN w wk ON wk.tid = c.tid AND wk.m = c.kmeter;

  k_used := array_fill(0::bigint, ARRAY[coalesce(cardinality(k_tid), 0)]);
  k_found := array_fill(false, ARRAY[coalesce(cardinality(k_tid), 0)]);
  FOR r IN
    SELECT w.i::int AS i, uc.used FROM usage_counters uc
      JOIN unnest(k_tid, k_meter, k_ps) WITH ORDINALITY AS w(tid, m, ps, i) ON uc.tenant_id = w.tid AND uc.meter = w.m AND uc.period_start = w.ps
     ORDER BY uc.tenant_id, uc.meter LIKE 'key:%', uc.meter FOR UPDATE OF uc
  LOOP
    k_used[r.i] := r.used; k_found[r.i] := true;
  END LOOP;
  k_start := k_used;

  a_found := array_fill(false, ARRAY[cardinality(t_id)]);
  l_found := a_found;
  a_bal := array_fill(0::bigint, ARRAY[cardinality(t_id)]);
  a_res := a_bal; l_live := a_bal;
  FOR r IN
    SELECT t.i::int AS i, ca.balance, ca.reserved FROM credit_accounts ca JOIN unnest(t_id) WITH ORDINALITY AS t(tid, i) ON ca.tenant_id = t.tid
     ORDER BY ca.tenant_id FOR UPDATE OF ca
  LOOP
    a_found[r.i] := true; a_bal[r.i] := r.balance; a_res[r.i] := r.reserved;
  END LOOP;
  l_held := l_live;
  IF NOT any_runs THEN RETURN; END IF;
  FOR r IN
    SELECT t.i::int AS i, rl.held
      FROM run_leases rl JOIN unnest(t_id) WITH ORDINALITY AS t(tid, i) ON rl.tenant_id = t.tid
     WHERE rl.tenant_id IN (SELECT t_id[u.ti] FROM unnest(ti, runs) AS u(ti, runs) WHERE u.runs IS NOT NULL)
     ORDER BY rl.tenant_id FOR UPDATE OF rl
  LOOP
    l_found[r.i] := true; l_held[r.i] := r.held; l_live[r.i] := r.held;
  END LOOP;
  -- Slots that expired since are let go now, under the row lock: each is deleted once, so
  -- the count stays exact at a cost that does not grow with the tenant's open runs.
  FOR r IN
    WITH gone AS (
      DELETE FROM run_slots s USING unnest(t_id) WITH ORDINALITY AS t(tid, i)
       WHERE l_found[t.i] AND s.tenant_id = t.tid AND s.expires_at <= at RETURNING t.i
    ) SELECT gone.i::int AS i, count(*) AS n FROM gone GROUP BY gone.i
  LOOP
    l_live[r.i] := l_live[r.i] - r.n;
  END LOOP;
END $fn$;

-- The counters as tollgate_admit left them: changed rows updated, new ones inserted. A
-- counter row that did not exist when locked may have been created since by another
-- transaction; then the batch fails (40001) and its requests are decided again.
CREATE OR REPLACE FUNCTION tollgate_admit_counts(k_tid text[], k_meter text[], k_ps timestamptz[], k_pe timestamptz[], k_start bigint[],
  k_used bigint[], k_found boolean[], at timestamptz) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  expected bigint;
  written  bigint;
BEGIN
  UPDATE usage_counters c SET used = u.used, updated_at = at
    FROM unnest(k_tid, k_meter, k_ps, k_used, k_start, k_found) AS u(tid, m, ps, used, start, was)
   WHERE u.was AND u.used <> u.start AND c.tenant_id = u.tid AND c.meter = u.m AND c.period_start = u.ps;
  SELECT count(*) INTO expected FROM unnest(k_used, k_found) AS u(used, was) WHERE u.used > 0 AND NOT u.was;
  IF expected = 0 THEN RETURN; END IF;
  INSERT INTO usage_counters (tenant_id, meter, period_start, period_end, used, updated_at)
  SELECT u.tid, u.m, u.ps, u.pe, u.used, at FROM unnest(k_tid, k_meter, k_ps, k_pe, k_used, k_found) AS u(tid, m, ps, pe, used, was)
   WHERE u.used > 0 AND NOT u.was
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS written = ROW_COUNT;
  IF written <> expected THEN RAISE EXCEPTION 'a counter was created under the batch' USING ERRCODE = '40001'; END IF;
END $fn$;

-- The accounts' reserved amounts, and each tenant's run slots: a slot row per admitted run
-- under its reservation's id (settling or releasing the reservation frees it), and the
-- tenant's count of held slots as the batch left it. A count row created under the batch
-- fails it (40001).
CREATE OR REPLACE FUNCTION tollgate_admit_accounts(t_id text[], a_res bigint[], a_start bigint[], l_found boolean[], l_held bigint[], l_live bigint[],
  any_runs boolean, ti int[], runs bigint[], fail smallint[], res_id text[], expires timestamptz[], at timestamptz) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  expected bigint;
  written  bigint;
BEGIN
  UPDATE credit_accounts ca SET reserved = u.res, updated_at = at
    FROM unnest(t_id, a_res, a_start) AS u(tid, res, start)
   WHERE ca.tenant_id = u.tid AND u.res <> u.start;
  IF NOT any_runs THEN RETURN; END IF;
  INSERT INTO run_slots (tenant_id, id, expires_at)
  SELECT t_id[x.ti], x.id, x.expires FROM unnest(ti, runs, fail, res_id, expires) AS x(ti, runs, fail, id, expires) WHERE x.fail = 0 AND x.runs IS NOT NULL;
  UPDATE run_leases rl SET held = u.live, updated_at = at
    FROM unnest(t_id, l_found, l_held, l_live) AS u(tid, found, held, live)
   WHERE u.found AND u.live <> u.held AND rl.tenant_id = u.tid;
  SELECT count(*) INTO expected FROM unnest(l_found, l_live) AS u(found, live) WHERE NOT u.found AND u.live > 0;
  IF expected = 0 THEN RETURN; END IF;
  INSERT INTO run_leases (tenant_id, held, updated_at)
  SELECT u.tid, u.live, at FROM unnest(t_id, l_found, l_live) AS u(tid, found, live) WHERE NOT u.found AND u.live > 0
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS written = ROW_COUNT;
  IF written <> expected THEN RAISE EXCEPTION 'a slot count row was created under the batch' USING ERRCODE = '40001'; END IF;
END $fn$;

-- Every new row of the admitted: usage events (the meter's and the key's), a bypass's
-- audit entry, and the reservation, which is also the decision's record (0019: who
-- decided, the module, the request; GET …/decisions reads it). No ledger entry: a hold
-- moves no balance, and the ledger records only what does (the account's reserved is the
-- sum of its held reservations; the settlement's entry charges it).
CREATE OR REPLACE FUNCTION tollgate_admit_inserts(reqs tollgate_request[], ord int[], fail smallint[], mu bigint[], ku bigint[], byp boolean[], at timestamptz)
RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
BEGIN
  WITH v AS (
    SELECT q.*, x.mu, x.ku, x.byp
      FROM unnest(ord, fail, mu, ku, byp) AS x(ord, fail, mu, ku, byp)
      JOIN unnest(reqs) q ON q.ord = x.ord
     WHERE x.fail = 0
  ), events AS (
    INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id, used_after, limit_value, created_at)
    SELECT v.tid, v.event_id, v.meter, 1, v.ps, v.byp, v.role, v.actor_type, v.actor_id, v.mu, v.mlimit, at FROM v WHERE v.meter IS NOT NULL
    UNION ALL
    SELECT v.tid, v.key_event_id, v.kmeter, 1, v.ps, false, NULL, v.actor_type, v.actor_id, v.ku, v.kcap, at FROM v WHERE v.kmeter IS NOT NULL
  ), bypasses AS (
    INSERT INTO audit_log (tenant_id, id, actor_type, actor_id, action, target_type, target_id, data, request_id, created_at)
    SELECT v.tid, v.audit_id, v.actor_type, v.actor_id, 'limit.bypass', 'meter', v.meter,
           jsonb_build_object('role', v.role, 'used', v.mu, 'limit', v.mlimit, 'periodStart', tollgate_iso(v.ps)), v.request_id, at
      FROM v WHERE v.byp
  )
  INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, model, amount, status, charged, refunded, expires_at, created_at,
                                   actor_type, actor_id, role, meter, bypass, route, decision_id, principal_type, principal_id, user_id, module, request_id)
  SELECT v.tid, v.res_id, v.res_key, v.res_hash, v.op, v.model, v.cost, 'held', 0, 0, v.expires, at,
         v.actor_type, v.actor_id, v.role, v.meter, v.byp, v.route, v.dec_id, v.ptype, v.pid, v.puid, v.module, v.request_id FROM v;
END $fn$;
