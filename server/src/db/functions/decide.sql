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
--    locked once, in one global order, and written once; a request the credits would
--    refuse first lets its tenant's holds past their expiry go (expire.sql);
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
-- caller (gate/statement.ts, DecideEntry) sends the batch as one array of these, which the
-- statement unnests. Its fields are in the order the caller spells them (a test reads
-- them back). An array literal of rows is read in one pass, where the same batch as JSON
-- cost PostgreSQL ~8 µs more per request (parsed, then looked up by name and converted).
-- What admission reads in its loop (limits, cost, where the request's rows are) comes
-- beside it as arrays of plain values, one element per request: a field of a row in an
-- array is found by walking the row's fields before it, each time it is read. What many
-- requests share is sent once and named by its place: a request's period start is its
-- counters' (k_ps), its provider route one of the batch's `routes` (`ri`) — each typed
-- value of the literal is read by its type's input function, and a jsonb route and a
-- timestamptz per request were ~2 µs of PostgreSQL's CPU per request (issue 24).
CREATE TYPE tollgate_request AS (ord int, tid text, tgen bigint, uid text, ugen bigint, skid text, skgen bigint, idem text, hash text, shape jsonb,
  pre jsonb, meter text, kmeter text, role text, res_id text, res_key text, op text, model text, expires timestamptz,
  key_event_id text, audit_id text, actor_type text, actor_id text, request_id text, dec_id text, ptype text, pid text,
  puid text, module text, ri int);

-- An instant as JavaScript's Date#toISOString spells it (lease expiries, audit data).
CREATE OR REPLACE FUNCTION tollgate_iso(ts timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The batch: one answer row per request, in the order given.
--
-- `reqs` are the requests; beside them, one element per request: `mlimit` the meter's
-- limit (null: none), `may_bypass` whether its role may pass a full meter, `kcap` its
-- key's cap, `runs` its concurrent-run limit, `cost` its credits, and where its rows are
-- among the batch's: `mi` its meter's counter and `ki` its key's (places in k_*), `ti`
-- its tenant (a place in t_id). `k_*` are the batch's counters, each once (tenant, meter,
-- period start, period end); `t_id` its tenants, each once. `clow` is credits.low's
-- threshold (null: none configured); `at` is the caller's clock; `routes` the batch's
-- provider routes, each once (a request's `ri` is its place).
--
-- Each request becomes, before anything is consumed: 'stale' (a stamp moved),
-- 'conflict' (its idempotency key holds another request's answer), 'replay' (it holds
-- this one's: its stored answer is answered), 'pre' (refused in TypeScript), or 'admit'
-- (tollgate_admit decides it).
--
-- A statement has a fixed cost beside its requests' (the executor sets up every plan it
-- runs, whatever the rows): so the batch is one function running as few statements as it
-- can, and what the caller already knows (which rows a request consumes) is not worked
-- out again here.
--
-- Planner settings: JIT off (a batch's estimates can pass jit_above_cost, and compiling
-- took most of a second for statements that run in a millisecond); generic plans
-- (planned once per connection); no sequential scans: every look-up is by key, and on a
-- small table the planner would rather scan it whole, evaluating the row-level security
-- policy on every row. They hold for the functions this one calls.
CREATE OR REPLACE FUNCTION tollgate_decide(reqs tollgate_request[], mlimit bigint[], may_bypass boolean[], kcap bigint[], runs bigint[], cost bigint[],
  mi int[], ki int[], ti int[], k_tid text[], k_meter text[], k_ps timestamptz[], k_pe timestamptz[], t_id text[], clow bigint, at timestamptz, routes jsonb[])
RETURNS TABLE (r_verdict text, r_stored jsonb, r_fail smallint, r_mu float8, r_ku float8, r_lu float8, r_bal float8, r_res float8, r_byp boolean)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  n        int := cardinality(reqs);
  verdicts text[];
  stored   jsonb[];
  keyed    boolean := false;
  a        record;
  j        int;
BEGIN
  -- The tenant wall admits the batch's tenants (tollgate_wall): each established by the caller from a credential.
  PERFORM set_config('app.tenant_ids', array_to_string(t_id, ','), true);
  FOR j IN 1..n LOOP
    IF (reqs[j]).idem IS NOT NULL THEN keyed := true; EXIT; END IF;
  END LOOP;
  IF keyed THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
       FROM (SELECT DISTINCT q.tid || ':authorize:' || q.idem AS k FROM unnest(reqs) q WHERE q.idem IS NOT NULL ORDER BY 1) keys;
  END IF;

  SELECT array_agg(v.verdict ORDER BY v.ord), array_agg(v.stored ORDER BY v.ord) INTO verdicts, stored
    FROM (
      SELECT q.ord,
             CASE
               WHEN t.generation IS DISTINCT FROM q.tgen OR (q.uid IS NOT NULL AND u.generation IS DISTINCT FROM q.ugen)
                 OR (q.skid IS NOT NULL AND sk.generation IS DISTINCT FROM q.skgen) THEN 'stale'
               WHEN dr.request_hash IS NOT NULL AND dr.request_hash <> q.hash THEN 'conflict'
               WHEN dr.request_hash IS NOT NULL THEN 'replay'
               WHEN q.pre IS NOT NULL THEN 'pre'
               ELSE 'admit'
             END AS verdict,
             CASE WHEN dr.request_hash = q.hash THEN coalesce(dr.answer, jsonb_build_object('decision', dr.decision)) END AS stored
        FROM unnest(reqs) q
        LEFT JOIN tenants t ON t.id = q.tid
        LEFT JOIN users u ON u.id = q.uid
        LEFT JOIN service_keys sk ON sk.id = q.skid
        LEFT JOIN decision_replays dr ON dr.tenant_id = q.tid AND dr.idempotency_key = q.idem
    ) v;

  SELECT * INTO a FROM tollgate_admit(reqs, verdicts, mlimit, may_bypass, kcap, runs, cost, mi, ki, ti, k_tid, k_meter, k_ps, k_pe, t_id, clow, at, routes);

  IF keyed THEN
    -- Under the keys' locks: a retry sees this answer, allowed or refused.
    INSERT INTO decision_replays (tenant_id, idempotency_key, request_hash, answer, created_at)
    SELECT q.tid, q.idem, q.hash,
           jsonb_build_object('shape', q.shape, 'outcome', coalesce(q.pre, jsonb_build_object('kind', 'metered', 'fail', a.fail[q.ord], 'meterUsed', a.mu[q.ord],
             'keyUsed', a.ku[q.ord], 'runsUsed', a.lu[q.ord], 'balance', a.bal[q.ord], 'reserved', a.res[q.ord], 'bypass', a.byp[q.ord]))), at
      FROM unnest(reqs) q
     WHERE q.idem IS NOT NULL AND (verdicts[q.ord] = 'admit' OR (verdicts[q.ord] = 'pre' AND q.pre->>'kind' = 'refused'))
    ON CONFLICT DO NOTHING;
  END IF;

  -- Counts as float8: exact to 2^53, and a number (not a string) in every driver.
  RETURN QUERY
  SELECT verdicts[x.n], stored[x.n], x.fail, x.mu::float8, x.ku::float8, x.lu::float8, x.bal::float8, x.res::float8, x.byp
    FROM unnest(a.fail, a.mu, a.ku, a.lu, a.bal, a.res, a.byp) WITH ORDINALITY AS x(fail, mu, ku, lu, bal, res, byp, n)
   ORDER BY x.n;
END $fn$;

-- Admits the requests whose verdict is 'admit', in arrival order, each only if all of it
-- fits — the meter, the key's meter, a concurrent-run slot, the credits; answers how each
-- came out, one element per request (null: not a candidate) — fail 0 admitted, 1 the
-- meter, 2 the key's meter, 3 concurrent runs, 4 credits — with the counts as far as it
-- got (a refusal shows what is used, not what it would have made it) and the account
-- after it. The rows the candidates consume are each locked once, in one global order —
-- all counters (by tenant, then its meters before its keys'), then all accounts, then all
-- slot counts — so that concurrent batches, here or in another process, never wait on
-- each other in a circle; each is written once.
CREATE OR REPLACE FUNCTION tollgate_admit(reqs tollgate_request[], verdicts text[], mlimit bigint[], may_bypass boolean[], kcap bigint[], runs bigint[],
  cost bigint[], mi int[], ki int[], ti int[], k_tid text[], k_meter text[], k_ps timestamptz[], k_pe timestamptz[], t_id text[], clow bigint, at timestamptz,
  routes jsonb[], OUT fail smallint[], OUT mu bigint[], OUT ku bigint[], OUT lu bigint[], OUT bal bigint[], OUT res bigint[], OUT byp boolean[])
LANGUAGE plpgsql AS $fn$
DECLARE
  n        int := cardinality(reqs);
  nk       int := coalesce(cardinality(k_tid), 0);
  nt       int := coalesce(cardinality(t_id), 0);
  k_want   boolean[];  -- a candidate consumes the counter, the account, the slot count
  t_want   boolean[];
  l_want   boolean[];
  k_used   bigint[];
  k_start  bigint[];
  k_found  boolean[];
  k_limit  bigint[];
  a_found  boolean[];
  a_bal    bigint[];
  a_res    bigint[];
  a_start  bigint[];
  l_found  boolean[];
  l_held   bigint[];
  l_live   bigint[];
  swept    boolean[];  -- the tenant's holds past their expiry were let go (on a refusal for credits)
  expiry   record;
  any_runs boolean := false;
  admits   int := 0;
  moved    int;
  written  bigint;
  r        record;
  j        int;
  m_used   bigint;
BEGIN
  fail := array_fill(NULL::smallint, ARRAY[n]);
  mu := array_fill(NULL::bigint, ARRAY[n]); ku := mu; lu := mu; bal := mu; res := mu;
  byp := array_fill(false, ARRAY[n]);
  k_want := array_fill(false, ARRAY[nk]); t_want := array_fill(false, ARRAY[nt]); l_want := t_want;
  FOR j IN 1..n LOOP
    CONTINUE WHEN verdicts[j] <> 'admit';
    admits := admits + 1;
    t_want[ti[j]] := true;
    IF mi[j] IS NOT NULL THEN k_want[mi[j]] := true; END IF;
    IF ki[j] IS NOT NULL THEN k_want[ki[j]] := true; END IF;
    IF runs[j] IS NOT NULL THEN l_want[ti[j]] := true; any_runs := true; END IF;
  END LOOP;
  IF admits = 0 THEN RETURN; END IF;

  k_used := array_fill(0::bigint, ARRAY[nk]);
  k_found := array_fill(false, ARRAY[nk]);
  FOR r IN
    SELECT w.i::int AS i, uc.used FROM usage_counters uc
      JOIN unnest(k_tid, k_meter, k_ps, k_want) WITH ORDINALITY AS w(tid, m, ps, want, i) ON uc.tenant_id = w.tid AND uc.meter = w.m AND uc.period_start = w.ps
     WHERE w.want
     ORDER BY uc.tenant_id, uc.meter LIKE 'key:%', uc.meter, uc.period_start FOR UPDATE OF uc
  LOOP
    k_used[r.i] := r.used; k_found[r.i] := true;
  END LOOP;
  k_start := k_used;
  k_limit := array_fill(NULL::bigint, ARRAY[nk]);

  a_found := array_fill(false, ARRAY[nt]);
  l_found := a_found;
  a_bal := array_fill(0::bigint, ARRAY[nt]);
  a_res := a_bal; l_live := a_bal; l_held := a_bal;
  FOR r IN
    SELECT t.i::int AS i, ca.balance, ca.reserved FROM credit_accounts ca
      JOIN unnest(t_id, t_want) WITH ORDINALITY AS t(tid, want, i) ON ca.tenant_id = t.tid
     WHERE t.want ORDER BY ca.tenant_id FOR UPDATE OF ca
  LOOP
    a_found[r.i] := true; a_bal[r.i] := r.balance; a_res[r.i] := r.reserved;
  END LOOP;
  a_start := a_res;
  swept := array_fill(false, ARRAY[nt]);
  IF any_runs THEN
    FOR r IN
      SELECT t.i::int AS i, rl.held FROM run_leases rl
        JOIN unnest(t_id, l_want) WITH ORDINALITY AS t(tid, want, i) ON rl.tenant_id = t.tid
       WHERE t.want ORDER BY rl.tenant_id FOR UPDATE OF rl
    LOOP
      l_found[r.i] := true; l_held[r.i] := r.held; l_live[r.i] := r.held;
    END LOOP;
    -- Slots that expired since are let go now, under the row lock: each is deleted once, so
    -- the count stays exact at a cost that does not grow with the tenant's open runs.
    FOR r IN
      WITH gone AS (
        DELETE FROM run_slots s USING unnest(t_id, l_found) WITH ORDINALITY AS t(tid, found, i)
         WHERE t.found AND s.tenant_id = t.tid AND s.expires_at <= at RETURNING t.i
      ) SELECT gone.i::int AS i, count(*) AS n FROM gone GROUP BY gone.i
    LOOP
      l_live[r.i] := l_live[r.i] - r.n;
    END LOOP;
  END IF;

  FOR j IN 1..n LOOP
    CONTINUE WHEN verdicts[j] <> 'admit';
    IF mi[j] IS NOT NULL THEN
      k_limit[mi[j]] := greatest(k_limit[mi[j]], mlimit[j]);  -- the limit its crossings are announced against
      m_used := k_used[mi[j]];
      mu[j] := m_used;
      IF mlimit[j] IS NOT NULL AND NOT coalesce(may_bypass[j], false) AND m_used + 1 > mlimit[j] THEN fail[j] := 1; CONTINUE; END IF;
    END IF;
    IF ki[j] IS NOT NULL THEN
      ku[j] := k_used[ki[j]];
      IF ku[j] + 1 > kcap[j] THEN fail[j] := 2; CONTINUE; END IF;
    END IF;
    IF runs[j] IS NOT NULL THEN
      lu[j] := l_live[ti[j]];
      IF runs[j] < 1 OR lu[j] >= runs[j] THEN fail[j] := 3; CONTINUE; END IF;
    END IF;
    bal[j] := a_bal[ti[j]]; res[j] := a_res[ti[j]];
    IF a_found[ti[j]] AND bal[j] - res[j] < cost[j] AND NOT swept[ti[j]] THEN
      -- Refused as the account stands, where holds past their expiry count until the
      -- sweeper comes: they are let go now (expire.sql, as it would), once per tenant and
      -- statement, under the account's lock, and the request is asked again. Only a refusal
      -- pays for it. The account's row (and a slot count this batch locked) is written by
      -- the expiry: what this batch writes of them starts from there.
      swept[ti[j]] := true;
      SELECT * INTO expiry FROM tollgate_expire(t_id[ti[j]], NULL, at);
      a_res[ti[j]] := a_res[ti[j]] - expiry.released; a_start[ti[j]] := a_start[ti[j]] - expiry.released;
      IF l_found[ti[j]] THEN l_held[ti[j]] := l_held[ti[j]] - expiry.freed; l_live[ti[j]] := l_live[ti[j]] - expiry.freed; END IF;
      res[j] := a_res[ti[j]];
    END IF;
    IF NOT (a_found[ti[j]] AND bal[j] - res[j] >= cost[j]) THEN fail[j] := 4; CONTINUE; END IF;
    -- It fits: consume, and show the counts it made. Past a full meter only by its role's bypass.
    fail[j] := 0;
    IF mi[j] IS NOT NULL THEN
      mu[j] := mu[j] + 1; k_used[mi[j]] := mu[j];
      byp[j] := mlimit[j] IS NOT NULL AND mu[j] > mlimit[j];
    END IF;
    IF ki[j] IS NOT NULL THEN ku[j] := ku[j] + 1; k_used[ki[j]] := ku[j]; END IF;
    IF runs[j] IS NOT NULL THEN lu[j] := lu[j] + 1; l_live[ti[j]] := lu[j]; END IF;
    a_res[ti[j]] := a_res[ti[j]] + cost[j];
    res[j] := a_res[ti[j]];
  END LOOP;

  -- The counters as admission left them: changed rows updated, new ones inserted. Each
  -- counter is one element of k_*; one written twice would count once, so the rows
  -- written must be the counters that moved. A counter row that did not exist when
  -- locked may have been created since by another transaction; then the batch fails
  -- (40001) and its requests are decided again.
  moved := 0;
  FOR j IN 1..nk LOOP
    IF k_found[j] AND k_used[j] <> k_start[j] THEN moved := moved + 1; END IF;
  END LOOP;
  IF moved > 0 THEN
    UPDATE usage_counters c SET used = u.used, updated_at = at
      FROM unnest(k_tid, k_meter, k_ps, k_used, k_start, k_found) AS u(tid, m, ps, used, start, was)
     WHERE u.was AND u.used <> u.start AND c.tenant_id = u.tid AND c.meter = u.m AND c.period_start = u.ps;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> moved THEN RAISE EXCEPTION 'the batch named a counter twice' USING ERRCODE = 'XX000'; END IF;
  END IF;
  moved := 0;
  FOR j IN 1..nk LOOP
    IF NOT k_found[j] AND k_used[j] > 0 THEN moved := moved + 1; END IF;
  END LOOP;
  IF moved > 0 THEN
    INSERT INTO usage_counters (tenant_id, meter, period_start, period_end, used, updated_at)
    SELECT u.tid, u.m, u.ps, u.pe, u.used, at FROM unnest(k_tid, k_meter, k_ps, k_pe, k_used, k_found) AS u(tid, m, ps, pe, used, was)
     WHERE u.used > 0 AND NOT u.was
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> moved THEN
      -- A row fewer than counted: another transaction created it since the lock (40001: the
      -- requests are decided again), or the batch named a new counter twice — a fault,
      -- not a conflict to retry until it goes away.
      IF moved <> (SELECT count(DISTINCT (u.tid, u.m, u.ps)) FROM unnest(k_tid, k_meter, k_ps, k_used, k_found) AS u(tid, m, ps, used, was)
                    WHERE u.used > 0 AND NOT u.was) THEN
        RAISE EXCEPTION 'the batch named a counter twice' USING ERRCODE = 'XX000';
      END IF;
      RAISE EXCEPTION 'a counter was created under the batch' USING ERRCODE = '40001';
    END IF;
  END IF;

  -- The accounts' reserved amounts (the same check: each account once).
  moved := 0;
  FOR j IN 1..nt LOOP
    IF a_res[j] <> a_start[j] THEN moved := moved + 1; END IF;
  END LOOP;
  IF moved > 0 THEN
    UPDATE credit_accounts ca SET reserved = u.res, updated_at = at
      FROM unnest(t_id, a_res, a_start) AS u(tid, res, start)
     WHERE ca.tenant_id = u.tid AND u.res <> u.start;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> moved THEN RAISE EXCEPTION 'the batch named a tenant twice' USING ERRCODE = 'XX000'; END IF;
  END IF;

  -- Each tenant's run slots: a slot row per admitted run under its reservation's id
  -- (settling or releasing the reservation frees it), and the tenant's count of held slots
  -- as the batch left it. A count row created under the batch fails it (40001).
  IF any_runs THEN
    INSERT INTO run_slots (tenant_id, id, expires_at)
    SELECT t_id[ti[x.ord]], x.res_id, x.expires FROM unnest(reqs) x WHERE fail[x.ord] = 0 AND runs[x.ord] IS NOT NULL;
    moved := 0;
    FOR j IN 1..nt LOOP
      IF l_found[j] AND l_live[j] <> l_held[j] THEN moved := moved + 1; END IF;
    END LOOP;
    IF moved > 0 THEN
      UPDATE run_leases rl SET held = u.live, updated_at = at
        FROM unnest(t_id, l_found, l_held, l_live) AS u(tid, found, held, live)
       WHERE u.found AND u.live <> u.held AND rl.tenant_id = u.tid;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> moved THEN RAISE EXCEPTION 'the batch named a tenant twice' USING ERRCODE = 'XX000'; END IF;
    END IF;
    moved := 0;
    FOR j IN 1..nt LOOP
      IF NOT l_found[j] AND l_live[j] > 0 THEN moved := moved + 1; END IF;
    END LOOP;
    IF moved > 0 THEN
      INSERT INTO run_leases (tenant_id, held, updated_at)
      SELECT u.tid, u.live, at FROM unnest(t_id, l_found, l_live) AS u(tid, found, live) WHERE NOT u.found AND u.live > 0
      ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> moved THEN
        -- As for the counters: created since the lock, or a new tenant named twice (a fault).
        IF moved <> (SELECT count(DISTINCT u.tid) FROM unnest(t_id, l_found, l_live) AS u(tid, found, live) WHERE NOT u.found AND u.live > 0) THEN
          RAISE EXCEPTION 'the batch named a tenant twice' USING ERRCODE = 'XX000';
        END IF;
        RAISE EXCEPTION 'a slot count row was created under the batch' USING ERRCODE = '40001';
      END IF;
    END IF;
  END IF;

  -- The events these changes announce (events.sql), in this transaction, under these locks.
  PERFORM tollgate_limit_crossings(k_tid, k_meter, k_ps, k_start, k_used, k_limit, at);
  -- No threshold configured (the default): not even the call.
  IF clow IS NOT NULL THEN PERFORM tollgate_credits_low(ARRAY(SELECT x.tid FROM unnest(t_id, t_want) AS x(tid, want) WHERE x.want), clow, at); END IF;
  PERFORM tollgate_admit_inserts(reqs, fail, mlimit, kcap, cost, mu, ku, byp, at, mi, ki, k_ps, routes);
END $fn$;

-- Every new row of the admitted: the reservation, which is also the decision's record
-- (0019: who decided, the module, the request; GET …/decisions reads it) and its meter's
-- usage event (0020: the period, the count it made, the limit; GET …/usage/events reads
-- it); the key cap's usage event; a bypass's audit entry. No ledger entry: a hold moves no
-- balance, and the ledger records only what does (the account's reserved is the sum of
-- its held reservations; the settlement's entry charges it).
CREATE OR REPLACE FUNCTION tollgate_admit_inserts(reqs tollgate_request[], fail smallint[], mlimit bigint[], kcap bigint[], cost bigint[],
  mu bigint[], ku bigint[], byp boolean[], at timestamptz, mi int[], ki int[], k_ps timestamptz[], routes jsonb[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  WITH v AS (
    -- A meter's period start is its counter's, and a key cap's is its key counter's: the same
    -- instant (gate/statement.ts names a request's counters by its period).
    SELECT q.*, mlimit[q.ord] AS mlimit, kcap[q.ord] AS kcap, cost[q.ord] AS cost, mu[q.ord] AS mu, ku[q.ord] AS ku, byp[q.ord] AS byp,
           k_ps[mi[q.ord]] AS ps, k_ps[ki[q.ord]] AS kps, routes[q.ri] AS route
      FROM unnest(reqs) q
     WHERE fail[q.ord] = 0
  ), key_events AS (
    INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id, used_after, limit_value, created_at)
    SELECT v.tid, v.key_event_id, v.kmeter, 1, v.kps, false, NULL, v.actor_type, v.actor_id, v.ku, v.kcap, at FROM v WHERE v.kmeter IS NOT NULL
  ), bypasses AS (
    INSERT INTO audit_log (tenant_id, id, actor_type, actor_id, action, target_type, target_id, data, request_id, created_at)
    SELECT v.tid, v.audit_id, v.actor_type, v.actor_id, 'limit.bypass', 'meter', v.meter,
           -- A service key acting for a member names the member, as the audit service's entries do (Actor.onBehalfOf).
           jsonb_build_object('role', v.role, 'used', v.mu, 'limit', v.mlimit, 'periodStart', tollgate_iso(v.ps))
             || CASE WHEN v.actor_type = 'service' AND v.puid IS NOT NULL THEN jsonb_build_object('onBehalfOf', v.puid) ELSE '{}'::jsonb END,
           v.request_id, at
      FROM v WHERE v.byp
  )
  INSERT INTO credit_reservations (tenant_id, id, idempotency_key, operation, model, amount, status, charged, refunded, expires_at, created_at,
                                   actor_type, actor_id, role, meter, bypass, route, decision_id, principal_type, principal_id, user_id, module, request_id,
                                   period_start, used_after, limit_value)
  SELECT v.tid, v.res_id, v.res_key, v.op, v.model, v.cost, 'held', 0, 0, v.expires, at,
         v.actor_type, v.actor_id, v.role, v.meter, v.byp, v.route, v.dec_id, v.ptype, v.pid, v.puid, v.module, v.request_id,
         v.ps, v.mu, v.mlimit FROM v;
END $fn$;
