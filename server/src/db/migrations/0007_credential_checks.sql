-- The credential outranks everything else the batch answers.
--
-- An idempotent replay no longer comes first. tollgate_decide (0006) answered a stored
-- decision before it looked at the key, the membership and the user, so a key revoked
-- (or a user deactivated) in another process, whose notification had not yet reached
-- this one, got its earlier answer back, `allowed: true` included. The credential checks
-- now come first, as in the reference path (GateService#decideAloneOnce).
--
-- A password reset signs out every session, access tokens included: it sets
-- users.sessions_valid_after, and an access token issued before that second is refused
-- (tenancy/access.ts sessionEnded, the same rule in Node). The request carries its
-- token's issue time (`issuedAt`, seconds); other credentials carry none.
--
-- The function is otherwise 0006's.

ALTER TABLE users ADD COLUMN sessions_valid_after timestamptz;

-- The batch: one answer per request, in the order given.
--
-- 1. Take the idempotency keys' locks (the reference path's lock, db/locks.ts) in one
--    order; then one statement reads what every request needs (stored answer, key,
--    tenant, membership, user, subscription, overrides, module switch, grant) and makes
--    the pre-checks, in the reference path's order: credential (key, tenant, member,
--    user, session), replay, tenant standing, plan, module, model, rate. What passes them
--    is a candidate for consuming.
-- 2. Lock the candidates' counters, accounts and leases, each row once, in one global
--    order (tenant, then the meter before the key's meter; all counters, then all
--    accounts, then all leases), the order the reference path follows within a tenant.
-- 3. Decide the candidates in arrival order, in memory: nothing is consumed unless all
--    of it fits (meter, key's meter, concurrent runs, credits).
-- 4. Write each changed row once and every new row with one insert per table; answer.
--
-- Planner settings: JIT off (a batch's estimates can pass jit_above_cost, and compiling
-- the read statement took most of a second for a statement that runs in a millisecond);
-- generic plans (planned once per connection, not again for every batch); no sequential
-- scans: every look-up is by key, and on a small table the planner would rather scan it
-- whole, evaluating the row-level security policy on every row, for every request.
CREATE OR REPLACE FUNCTION tollgate_decide(batch jsonb, ctx jsonb)
  RETURNS TABLE (r_early jsonb, r_fail smallint, r_plan text, r_enterprise boolean, r_role text, r_mu float8, r_mlimit float8,
                 r_ku float8, r_kcap float8, r_lu float8, r_runs float8, r_bal float8, r_res float8, r_byp boolean, r_ps timestamptz, r_pe timestamptz)
  LANGUAGE plpgsql
  SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $fn$
DECLARE
  now_ts      timestamptz := (ctx->>'now')::timestamptz;
  r           record;
  -- per request: the answer the pre-checks gave, NULL for a candidate
  p_answer    jsonb[];
  -- candidates, in arrival order
  nc          int;
  c_ord       int[];
  c_tid       text[];
  c_ps        timestamptz[];
  c_pe        timestamptz[];
  c_role      text[];
  c_plan      text[];
  c_ent       boolean[];
  c_meter     text[];
  c_mlimit    bigint[];
  c_byp       boolean[];
  c_kmeter    text[];
  c_kcap      bigint[];
  c_cost      bigint[];
  c_runs      bigint[];
  c_mi        int[];
  c_ki        int[];
  c_ti        int[];
  -- the rows they consume
  k_tid       text[];
  k_meter     text[];
  k_ps        timestamptz[];
  k_pe        timestamptz[];
  k_used      bigint[];
  k_start     bigint[];
  k_found     boolean[];
  t_id        text[];
  a_found     boolean[];
  a_bal       bigint[];
  a_res       bigint[];
  l_found     boolean[];
  l_live      bigint[];
  -- outcomes: o_fail 0 admitted, 1 meter, 2 key's meter, 3 concurrent runs, 4 credits;
  -- the used values to show, and the account after the decision
  o_fail      smallint[];
  o_mu        bigint[];
  o_ku        bigint[];
  o_lu        bigint[];
  o_bal       bigint[];
  o_res       bigint[];
  o_byp       boolean[];
  j           int;
  mi          int;
  ki          int;
  ti          int;
  m_used      bigint;
  any_runs    boolean;
  found_rows  int := 0;
  n_admitted  int := 0;
  written     bigint;
  expected    bigint;
BEGIN
  PERFORM set_config('app.tenant_ids', (SELECT string_agg(DISTINCT value->>'tenantId', ',') FROM jsonb_array_elements(batch)), true);
  PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
     FROM (SELECT DISTINCT (value->>'tenantId') || ':authorize:' || (value->>'idempotencyKey') AS k
             FROM jsonb_array_elements(batch) WHERE value->>'idempotencyKey' IS NOT NULL ORDER BY 1) keys;

  -- 1. Read and pre-check.
  -- b is materialized so that the look-ups compare key columns with plain values: with an
  -- expression such as d->>'tenantId' (not leakproof) row-level security rules out the index.
  WITH b AS MATERIALIZED (
    SELECT x.ord::int AS ord, x.d, x.d->>'tenantId' AS tid, x.d->>'userId' AS uid, x.d->>'keyId' AS key_id,
           x.d->>'idempotencyKey' AS idem, x.d->>'module' AS module
      FROM jsonb_array_elements(batch) WITH ORDINALITY x(d, ord)
  ), rd AS MATERIALIZED (
    -- Materialized: each look-up once per request, however often its columns are used.
    SELECT b.*,
           (SELECT dr FROM decision_replays dr WHERE dr.tenant_id = b.tid AND dr.idempotency_key = b.idem) AS rp,
           (SELECT t.status FROM tenants t WHERE t.id = b.tid) AS t_status,
           CASE b.d->>'principalType'
             WHEN 'api_key' THEN EXISTS (SELECT 1 FROM api_keys k WHERE k.tenant_id = b.tid AND k.id = b.key_id AND k.revoked_at IS NULL
                                           AND (k.expires_at IS NULL OR k.expires_at > now_ts) AND (k.grace_until IS NULL OR k.grace_until > now_ts))
             WHEN 'service' THEN EXISTS (SELECT 1 FROM service_keys sk WHERE sk.id = b.key_id AND sk.revoked_at IS NULL)
             ELSE true END AS key_ok,
           (SELECT m.role FROM memberships m WHERE m.tenant_id = b.tid AND m.user_id = b.uid) AS m_role,
           usr.status AS u_status, usr.sessions_valid_after AS u_after,
           (SELECT s FROM subscriptions s WHERE s.tenant_id = b.tid) AS sub,
           (SELECT o FROM tenant_overrides o WHERE o.tenant_id = b.tid) AS ov,
           EXISTS (SELECT 1 FROM tenant_modules tm WHERE tm.tenant_id = b.tid AND tm.module = b.module AND NOT tm.enabled) AS switched_off
      FROM b LEFT JOIN LATERAL (SELECT u.status, u.sessions_valid_after FROM users u WHERE u.id = b.uid) usr ON true
  ), p AS (
    SELECT rd.*,
           CASE WHEN ctx->'plans' ? (rd.sub).plan THEN (rd.sub).plan ELSE ctx->>'defaultPlan' END AS plan_id,
           CASE
             WHEN rd.t_status = 'suspended' THEN 'TENANT_SUSPENDED'
             WHEN rd.t_status = 'closed' THEN 'TENANT_CLOSED'
             WHEN (rd.sub).status IN ('canceled', 'pending_payment', 'suspended')
               OR ((rd.sub).status = 'past_due' AND ((rd.sub).past_due_since IS NULL
                   OR now_ts >= (rd.sub).past_due_since + make_interval(secs => (ctx->>'pastDueGraceSeconds')::double precision)))
               OR ((rd.sub).status = 'trialing' AND (rd.sub).trial_ends_at IS NOT NULL AND now_ts >= (rd.sub).trial_ends_at) THEN 'PAYMENT_REQUIRED'
           END AS standing
      FROM rd
  ), q AS (
    SELECT p.*, ctx->'plans'->p.plan_id AS v_plan,
           coalesce((p.ov).enterprise, (ctx->'plans'->p.plan_id->>'enterprise')::boolean, false) AS ent
      FROM p
  ), a AS (
    SELECT q.*,
           CASE
             WHEN NOT q.key_ok THEN '{"error": "UNAUTHENTICATED"}'
             WHEN q.t_status IS NULL THEN '{"error": "TENANT_NOT_FOUND"}'
             WHEN q.uid IS NOT NULL AND (q.m_role IS NULL OR q.u_status IS NULL) THEN jsonb_build_object('error', q.d->>'absent')
             WHEN q.uid IS NOT NULL AND q.u_status <> 'active' THEN '{"error": "USER_DEACTIVATED"}'
             WHEN (q.d->>'issuedAt')::bigint < floor(extract(epoch FROM q.u_after)) THEN '{"error": "UNAUTHENTICATED"}'
             -- A stored answer only for a credential the database still honours.
             WHEN (q.rp).request_hash IS NOT NULL THEN
               CASE WHEN (q.rp).request_hash <> q.d->>'hash' THEN '{"error": "IDEMPOTENCY_CONFLICT"}'::jsonb ELSE jsonb_build_object('replay', (q.rp).decision) END
             WHEN q.standing IS NOT NULL THEN tollgate_refusal(q.d, q.standing, jsonb_build_object('id', q.tid, 'plan', NULL, 'enterprise', false), q.d->'principal')
             -- Standing: a period to roll or a grant to write is the reference path's job. The
             -- caller names the period it saw granted (grants are append-only), sparing the look-up.
             WHEN q.sub IS NULL OR (q.sub).current_period_end <= now_ts THEN '{"slow": true}'
             WHEN (q.v_plan->>'creditsPerPeriod')::bigint > 0 AND (q.d->>'grantedPeriod')::timestamptz IS DISTINCT FROM (q.sub).current_period_start
               AND NOT EXISTS (SELECT 1 FROM credit_ledger cl WHERE cl.tenant_id = q.tid
                                  AND cl.idempotency_key = (SELECT 'period:' || tollgate_iso((q.sub).current_period_start))) THEN '{"slow": true}'
           END AS early
      FROM q
  ), v AS (
    -- The tenant and principal as a refusal shows them; built only where one is.
    SELECT a.*, jsonb_build_object('id', a.tid, 'plan', a.plan_id, 'enterprise', a.ent) AS tenant_v,
           CASE WHEN a.uid IS NULL THEN a.d->'principal' ELSE a.d->'principal' || jsonb_build_object('role', a.m_role) END AS principal_v
      FROM a
  ), f AS MATERIALIZED (
    SELECT a.ord, a.d, a.tid, a.sub, a.m_role, a.plan_id, a.ent, a.ov, a.v_plan,
           coalesce(a.early, CASE
             WHEN NOT (a.v_plan->'modules' ? (a.d->>'module')) THEN tollgate_refusal(a.d, 'NOT_IN_PLAN', a.tenant_v, a.principal_v)
             WHEN a.switched_off THEN tollgate_refusal(a.d, 'MODULE_DISABLED', a.tenant_v, a.principal_v)
             WHEN jsonb_typeof(a.d->'modelPlans') = 'array' AND NOT (a.d->'modelPlans' ? a.plan_id) THEN tollgate_refusal(a.d, 'NOT_IN_PLAN', a.tenant_v, a.principal_v)
             -- The rate limit was consulted by the caller (its store is not the database).
             WHEN a.d->>'rate' = 'unavailable' THEN '{"error": "RATE_LIMIT_UNAVAILABLE"}'
             WHEN a.d->>'rate' = 'limited' THEN jsonb_set(tollgate_refusal(a.d, 'RATE_LIMITED', a.tenant_v, a.principal_v), '{decision,retryAfterMs}', to_jsonb((a.d->>'retryAfterMs')::bigint))
           END) AS answer
      FROM v a
  )
  SELECT array_agg(f.answer ORDER BY f.ord),
         array_agg(f.ord ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(f.tid ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg((f.sub).current_period_start ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg((f.sub).current_period_end ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(f.m_role ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(f.plan_id ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(f.ent ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(f.d->>'meter' ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(coalesce(((f.ov).limits->>(f.d->>'meter'))::bigint, (f.v_plan->'limits'->>(f.d->>'meter'))::bigint) ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(f.m_role IS NOT NULL AND (f.d->'bypassRoles') ? f.m_role ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(CASE WHEN f.d->>'keyCap' IS NULL THEN NULL ELSE 'key:' || (f.d->>'keyId') END ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg((f.d->>'keyCap')::bigint ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg((f.d->>'credits')::bigint ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         array_agg(coalesce(((f.ov).limits->>'concurrentRuns')::bigint, (f.v_plan->>'concurrentRuns')::bigint) ORDER BY f.ord) FILTER (WHERE f.answer IS NULL),
         coalesce(bool_or(coalesce(((f.ov).limits->>'concurrentRuns')::bigint, (f.v_plan->>'concurrentRuns')::bigint) IS NOT NULL) FILTER (WHERE f.answer IS NULL), false)
    INTO p_answer, c_ord, c_tid, c_ps, c_pe, c_role, c_plan, c_ent, c_meter, c_mlimit, c_byp, c_kmeter, c_kcap, c_cost, c_runs, any_runs
    FROM f;
  nc := coalesce(array_length(c_ord, 1), 0);

  IF nc > 0 THEN
    -- 2. The rows to consume, each once, locked in one order.
    WITH c AS (
      SELECT * FROM unnest(c_tid, c_meter, c_kmeter, c_ps, c_pe) WITH ORDINALITY AS c(tid, m, km, ps, pe, j)
    ), w AS (
      SELECT d.tid, d.m, d.ps, d.pe, (row_number() OVER (ORDER BY d.tid, d.m LIKE 'key:%', d.m))::int AS i
        FROM (SELECT DISTINCT u.tid, u.m, u.ps, u.pe FROM (SELECT c.tid, c.m, c.ps, c.pe FROM c UNION ALL SELECT c.tid, c.km, c.ps, c.pe FROM c) u
               WHERE u.m IS NOT NULL) d
    )
    , t AS (
      SELECT d.tid, (row_number() OVER (ORDER BY d.tid))::int AS i FROM (SELECT DISTINCT c.tid FROM c) d
    )
    SELECT (SELECT array_agg(w.tid ORDER BY w.i) FROM w), (SELECT array_agg(w.m ORDER BY w.i) FROM w),
           (SELECT array_agg(w.ps ORDER BY w.i) FROM w), (SELECT array_agg(w.pe ORDER BY w.i) FROM w),
           (SELECT array_agg(wm.i ORDER BY c.j) FROM c LEFT JOIN w wm ON wm.tid = c.tid AND wm.m = c.m),
           (SELECT array_agg(wk.i ORDER BY c.j) FROM c LEFT JOIN w wk ON wk.tid = c.tid AND wk.m = c.km),
           (SELECT array_agg(t.tid ORDER BY t.i) FROM t),
           (SELECT array_agg(t.i ORDER BY c.j) FROM c JOIN t ON t.tid = c.tid)
      INTO k_tid, k_meter, k_ps, k_pe, c_mi, c_ki, t_id, c_ti;
    k_used := array_fill(0::bigint, ARRAY[coalesce(array_length(k_tid, 1), 0)]);
    k_found := array_fill(false, ARRAY[coalesce(array_length(k_tid, 1), 0)]);
    FOR r IN
      SELECT w.i::int AS i, uc.used FROM usage_counters uc
        JOIN unnest(k_tid, k_meter, k_ps) WITH ORDINALITY AS w(tid, m, ps, i) ON uc.tenant_id = w.tid AND uc.meter = w.m AND uc.period_start = w.ps
       ORDER BY uc.tenant_id, uc.meter LIKE 'key:%', uc.meter FOR UPDATE OF uc
    LOOP
      k_used[r.i] := r.used; k_found[r.i] := true; found_rows := found_rows + 1;
    END LOOP;
    k_start := k_used;

    a_found := array_fill(false, ARRAY[array_length(t_id, 1)]);
    l_found := a_found;
    a_bal := array_fill(0::bigint, ARRAY[array_length(t_id, 1)]);
    a_res := a_bal; l_live := a_bal;
    FOR r IN
      SELECT t.i::int AS i, ca.balance, ca.reserved FROM credit_accounts ca JOIN unnest(t_id) WITH ORDINALITY AS t(tid, i) ON ca.tenant_id = t.tid
       ORDER BY ca.tenant_id FOR UPDATE OF ca
    LOOP
      a_found[r.i] := true; a_bal[r.i] := r.balance; a_res[r.i] := r.reserved;
    END LOOP;
    FOR r IN
      SELECT t.i::int AS i, (SELECT count(*) FROM jsonb_each_text(rl.leases) e WHERE e.value::timestamptz > now_ts) AS live
        FROM run_leases rl JOIN unnest(t_id) WITH ORDINALITY AS t(tid, i) ON rl.tenant_id = t.tid
       WHERE any_runs AND rl.tenant_id IN (SELECT u.tid FROM unnest(c_tid, c_runs) AS u(tid, runs) WHERE u.runs IS NOT NULL)
       ORDER BY rl.tenant_id FOR UPDATE OF rl
    LOOP
      l_found[r.i] := true; l_live[r.i] := r.live;
    END LOOP;

    -- 3. Each candidate in arrival order, against the rows as the earlier ones left them.
    o_fail := array_fill(NULL::smallint, ARRAY[nc]);
    o_mu := array_fill(NULL::bigint, ARRAY[nc]);
    o_ku := o_mu; o_lu := o_mu; o_bal := o_mu; o_res := o_mu;
    o_byp := array_fill(false, ARRAY[nc]);
    FOR j IN 1..nc LOOP
      mi := c_mi[j]; ki := c_ki[j]; ti := c_ti[j];
      IF mi IS NOT NULL THEN
        m_used := k_used[mi];
        IF c_mlimit[j] IS NOT NULL AND NOT c_byp[j] AND m_used + 1 > c_mlimit[j] THEN
          o_fail[j] := 1; o_mu[j] := m_used; CONTINUE;
        END IF;
        o_mu[j] := m_used + 1;
        o_byp[j] := c_byp[j] AND c_mlimit[j] IS NOT NULL AND m_used + 1 > c_mlimit[j];
      END IF;
      IF ki IS NOT NULL THEN
        IF k_used[ki] + 1 > c_kcap[j] THEN o_fail[j] := 2; o_ku[j] := k_used[ki]; CONTINUE; END IF;
        o_ku[j] := k_used[ki] + 1;
      END IF;
      IF c_runs[j] IS NOT NULL THEN
        IF c_runs[j] < 1 OR l_live[ti] >= c_runs[j] THEN o_fail[j] := 3; o_lu[j] := l_live[ti]; CONTINUE; END IF;
        o_lu[j] := l_live[ti] + 1;
      END IF;
      IF NOT (a_found[ti] AND a_bal[ti] - a_res[ti] >= c_cost[j]) THEN
        o_fail[j] := 4; o_bal[j] := a_bal[ti]; o_res[j] := a_res[ti]; CONTINUE;
      END IF;
      -- It fits: consume.
      o_fail[j] := 0; n_admitted := n_admitted + 1;
      IF mi IS NOT NULL THEN k_used[mi] := o_mu[j]; END IF;
      IF ki IS NOT NULL THEN k_used[ki] := o_ku[j]; END IF;
      IF c_runs[j] IS NOT NULL THEN l_live[ti] := o_lu[j]; END IF;
      a_res[ti] := a_res[ti] + c_cost[j];
      o_bal[j] := a_bal[ti]; o_res[j] := a_res[ti];
    END LOOP;

    -- 4. Write the rows consumed. A counter or lease row that did not exist when locked
    -- may have been created since by another transaction; then the batch fails (40001)
    -- and its requests take the reference path.
    UPDATE usage_counters c SET used = u.used, updated_at = now_ts
      FROM unnest(k_tid, k_meter, k_ps, k_used, k_start, k_found) AS u(tid, m, ps, used, start, was)
     WHERE u.was AND u.used <> u.start AND c.tenant_id = u.tid AND c.meter = u.m AND c.period_start = u.ps;
    IF found_rows < coalesce(array_length(k_tid, 1), 0) THEN
      SELECT count(*) INTO expected FROM unnest(k_used, k_found) AS u(used, was) WHERE u.used > 0 AND NOT u.was;
    ELSE
      expected := 0;
    END IF;
    IF expected > 0 THEN
      INSERT INTO usage_counters (tenant_id, meter, period_start, period_end, used, updated_at)
      SELECT u.tid, u.m, u.ps, u.pe, u.used, now_ts FROM unnest(k_tid, k_meter, k_ps, k_pe, k_used, k_found) AS u(tid, m, ps, pe, used, was)
       WHERE u.used > 0 AND NOT u.was
      ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> expected THEN RAISE EXCEPTION 'a counter was created under the batch' USING ERRCODE = '40001'; END IF;
    END IF;
    UPDATE credit_accounts ca SET reserved = u.res, updated_at = now_ts
      FROM unnest(t_id, a_res) WITH ORDINALITY AS u(tid, res, i)
     WHERE ca.tenant_id = u.tid AND u.i IN (SELECT x.ti FROM unnest(c_ti, o_fail) AS x(ti, fail) WHERE x.fail = 0);
    -- Leases: the live ones kept, one added per admitted run, under the reservation's id
    -- (settling or releasing the reservation frees the slot).
    IF any_runs THEN
    WITH added AS (
      SELECT x.ti, jsonb_object_agg(batch->(x.ord - 1)->'reservation'->>'id', batch->(x.ord - 1)->'reservation'->>'expiresAt') AS leases
        FROM unnest(c_ord, c_ti, c_runs, o_fail) AS x(ord, ti, runs, fail) WHERE x.fail = 0 AND x.runs IS NOT NULL GROUP BY x.ti
    )
    UPDATE run_leases rl
       SET leases = coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each_text(rl.leases) e WHERE e.value::timestamptz > now_ts), '{}'::jsonb)
                    || added.leases,
           updated_at = now_ts
      FROM added WHERE l_found[added.ti] AND rl.tenant_id = t_id[added.ti];
    SELECT count(DISTINCT x.ti) INTO expected FROM unnest(c_ti, c_runs, o_fail) AS x(ti, runs, fail) WHERE x.fail = 0 AND x.runs IS NOT NULL AND NOT l_found[x.ti];
    IF expected > 0 THEN
      INSERT INTO run_leases (tenant_id, leases, updated_at)
      SELECT t_id[x.ti], jsonb_object_agg(batch->(x.ord - 1)->'reservation'->>'id', batch->(x.ord - 1)->'reservation'->>'expiresAt'), now_ts
        FROM unnest(c_ord, c_ti, c_runs, o_fail) AS x(ord, ti, runs, fail) WHERE x.fail = 0 AND x.runs IS NOT NULL AND NOT l_found[x.ti]
       GROUP BY x.ti
      ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> expected THEN RAISE EXCEPTION 'a lease row was created under the batch' USING ERRCODE = '40001'; END IF;
    END IF;
    END IF;
  END IF;

  -- Every new row of the admitted: usage events, bypass audit entries, reservations and
  -- ledger entries.
  IF n_admitted > 0 THEN
    WITH v AS (
      SELECT x.*, batch->(x.ord - 1) AS d, batch->(x.ord - 1)->'reservation' AS res_v
        FROM unnest(c_ord, c_tid, c_ps, c_role, c_meter, c_mlimit, c_kmeter, c_kcap, c_cost, o_fail, o_mu, o_ku, o_bal, o_res, o_byp)
          AS x(ord, tid, ps, role, meter, mlimit, kmeter, kcap, cost, fail, mu, ku, bal, res, byp)
       WHERE x.fail = 0
    ), events AS (
      INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id, used_after, limit_value, created_at)
      SELECT v.tid, v.d->'ids'->>'event', v.meter, 1, v.ps, v.byp, v.role, v.d->'actor'->>'type', v.d->'actor'->>'id', v.mu, v.mlimit, now_ts
        FROM v WHERE v.meter IS NOT NULL
      UNION ALL
      SELECT v.tid, v.d->'ids'->>'keyEvent', v.kmeter, 1, v.ps, false, NULL, v.d->'actor'->>'type', v.d->'actor'->>'id', v.ku, v.kcap, now_ts
        FROM v WHERE v.kmeter IS NOT NULL
    ), bypasses AS (
      INSERT INTO audit_log (tenant_id, id, actor_type, actor_id, action, target_type, target_id, data, request_id, created_at)
      SELECT v.tid, v.d->'ids'->>'audit', v.d->'actor'->>'type', v.d->'actor'->>'id', 'limit.bypass', 'meter', v.meter,
             jsonb_build_object('role', v.role, 'used', v.mu, 'limit', v.mlimit, 'periodStart', tollgate_iso(v.ps)), v.d->>'requestId', now_ts
        FROM v WHERE v.byp
    ), reservations AS (
      INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, model, amount, status, charged, refunded, expires_at, created_at)
      SELECT v.tid, v.res_v->>'id', v.res_v->>'key', v.res_v->>'hash', v.res_v->>'operation', v.res_v->>'model', v.cost, 'held', 0, 0,
             (v.res_v->>'expiresAt')::timestamptz, now_ts
        FROM v
    )
    INSERT INTO credit_ledger (tenant_id, id, kind, amount, hold, balance_after, reserved_after, reservation_id, idempotency_key, request_hash,
                               reason, actor_type, actor_id, created_at)
    SELECT v.tid, v.d->'ids'->>'ledger', 'reserve', 0, v.cost, v.bal, v.res, v.res_v->>'id', 'reserve:' || (v.res_v->>'key'), v.res_v->>'hash',
           v.res_v->>'operation', v.d->'actor'->>'type', v.d->'actor'->>'id', now_ts
      FROM v;
  END IF;

  -- The answers: an early one as it is, a decided one as its outcome (the caller spells
  -- the decision, gate/outcome.ts). Under the keys' locks, the decisions of requests
  -- with an idempotency key are stored, so a retry sees this answer, allowed or refused;
  -- spelled here the same way (the property test in gate/group-commit.test.ts holds the two together).
  RETURN QUERY
  WITH o AS (
    SELECT x.*, batch->(x.ord - 1) AS d
      FROM unnest(c_ord, c_tid, c_ps, c_pe, c_role, c_plan, c_ent, c_meter, c_mlimit, c_kmeter, c_kcap, c_cost, c_runs,
                  o_fail, o_mu, o_ku, o_lu, o_bal, o_res, o_byp)
        AS x(ord, tid, ps, pe, role, plan, ent, meter, mlimit, kmeter, kcap, cost, runs, fail, mu, ku, lu, bal, res, byp)
  ), kept AS (
    SELECT o.*, o.d->'reservation' AS res_v, tollgate_iso(o.pe) AS period_e
      FROM o WHERE o.d->>'idempotencyKey' IS NOT NULL
  ), v AS (
    SELECT kept.*,
           -- the limits the decision touched, as far as it got
           CASE WHEN kept.meter IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(tollgate_limit_view(kept.meter, kept.mu, kept.mlimit, kept.period_e)) END
           || CASE WHEN kept.kmeter IS NULL OR kept.fail = 1 THEN '[]'::jsonb ELSE jsonb_build_array(tollgate_limit_view(kept.kmeter, kept.ku, kept.kcap, kept.period_e)) END
           || CASE WHEN kept.runs IS NULL OR kept.fail IN (1, 2) THEN '[]'::jsonb ELSE jsonb_build_array(tollgate_limit_view('concurrentRuns', kept.lu, kept.runs, NULL)) END AS limits,
           jsonb_build_object('balance', kept.bal, 'reserved', kept.res, 'available', kept.bal - kept.res) AS credits,
           jsonb_build_object('id', kept.tid, 'plan', kept.plan, 'enterprise', kept.ent) AS tenant_v,
           CASE WHEN kept.d->>'userId' IS NULL THEN kept.d->'principal' ELSE kept.d->'principal' || jsonb_build_object('role', kept.role) END AS principal_v
      FROM kept
  ), stored AS (
    SELECT v.d, jsonb_build_object('allowed', v.fail = 0, 'code', CASE v.fail WHEN 0 THEN 'OK' WHEN 4 THEN 'INSUFFICIENT_CREDITS' ELSE 'LIMIT_EXCEEDED' END,
             'decisionId', v.d->>'decisionId', 'tenant', v.tenant_v, 'principal', v.principal_v, 'operation', v.d->'operation', 'limits', v.limits,
             'credits', CASE WHEN v.fail IN (0, 4) THEN v.credits END,
             'reservation', CASE WHEN v.fail = 0 THEN jsonb_build_object('id', v.res_v->>'id', 'credits', v.cost, 'expiresAt', v.res_v->>'expiresAt') END,
             'bypass', CASE WHEN v.fail = 0 AND v.byp THEN jsonb_build_object('reason', v.role, 'meter', v.meter) END,
             'route', jsonb_build_object('provider', 'default')) AS decision
      FROM v
    UNION ALL
    SELECT batch->(e.ord::int - 1), e.answer->'decision'
      FROM unnest(p_answer) WITH ORDINALITY AS e(answer, ord)
     WHERE e.answer ? 'decision' AND batch->(e.ord::int - 1)->>'idempotencyKey' IS NOT NULL
  ), replays AS (
    INSERT INTO decision_replays (tenant_id, idempotency_key, request_hash, decision, created_at)
    SELECT stored.d->>'tenantId', stored.d->>'idempotencyKey', stored.d->>'hash', stored.decision, now_ts FROM stored
    ON CONFLICT DO NOTHING
  )
  SELECT e.answer, o.fail, o.plan, o.ent, o.role, o.mu::float8, o.mlimit::float8, o.ku::float8, o.kcap::float8, o.lu::float8, o.runs::float8,
         o.bal::float8, o.res::float8, o.byp, o.ps, o.pe
    FROM unnest(p_answer) WITH ORDINALITY AS e(answer, ord) LEFT JOIN o ON o.ord = e.ord
   ORDER BY e.ord;
END $fn$;
