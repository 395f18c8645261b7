-- Group commit for the decision: tollgate_decide(batch, ctx) decides a batch of
-- authorize requests in one statement, so one round trip and one commit serve them all.
--
-- It is the same decision as GateService's per-request path (gate/service.ts), which
-- stays the reference: the same checks in the same order, the same rows written, the
-- same answer. What it cannot do in place it hands back as {"slow": true} (a period to
-- roll, a period grant not yet written, no subscription) and the caller runs the
-- reference path for that request.
--
-- It works on the batch as a set: one read for all requests, each counter, account and
-- lease row locked and written once, one insert per table. Only the deciding itself
-- (admit in arrival order while it fits) is a loop, over values already in memory.

-- An instant as JavaScript's Date#toISOString spells it (ids, keys and answers use it).
CREATE FUNCTION tollgate_iso(ts timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- One meter's line in a decision's "limits".
CREATE FUNCTION tollgate_limit_view(meter text, used bigint, lim bigint, resets_at text) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('meter', meter, 'used', used, 'limit', lim,
    'remaining', CASE WHEN lim IS NULL THEN NULL ELSE greatest(0, lim - used) END, 'resetsAt', resets_at)
$$;

-- The tenant wall inside a batch. A batch covers several tenants, so row-level security
-- admits, besides app.tenant_id, the tenants listed in the transaction-local
-- app.tenant_ids, which only tollgate_decide sets (to the tenants of its requests, each
-- established from the request's credential). Every statement of the batch still
-- addresses rows by the request's own tenant id; the wall now bounds it to the batch.
CREATE FUNCTION tollgate_batch_tenants() RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT string_to_array(nullif(current_setting('app.tenant_ids', true), ''), ',')
$$;

-- The policy expression for a tenant column; the scalar subquery is evaluated once per
-- statement, and only when the first two arms do not already decide.
CREATE FUNCTION tollgate_wall(col text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT format($w$%1$I = current_setting('app.tenant_id', true) OR current_setting('app.system', true) = 'on'
    OR %1$I = ANY (CAST((SELECT tollgate_batch_tenants()) AS text[]))$w$, col)
$$;

CREATE OR REPLACE FUNCTION tollgate_isolate_by_tenant(tables text[]) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY tables LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (%s) WITH CHECK (%s)', t, tollgate_wall('tenant_id'), tollgate_wall('tenant_id'));
  END LOOP;
END $fn$;
REVOKE EXECUTE ON FUNCTION tollgate_isolate_by_tenant(text[]) FROM PUBLIC;

DO $$
DECLARE p record; col text;
BEGIN
  FOR p IN SELECT tablename FROM pg_policies WHERE policyname = 'tenant_isolation' AND schemaname = current_schema() LOOP
    col := CASE WHEN p.tablename = 'tenants' THEN 'id' ELSE 'tenant_id' END;
    EXECUTE format('ALTER POLICY tenant_isolation ON %I USING (%s) WITH CHECK (%s)', p.tablename, tollgate_wall(col), tollgate_wall(col));
  END LOOP;
END $$;

-- The batch: one answer per request, in the order given.
--
-- 1. Take the idempotency keys' locks (the reference path's lock, db/locks.ts), in one
--    order, then read everything the requests need in one statement: stored answers,
--    key, tenant, membership, user, subscription, overrides, module switch, grant.
-- 2. Pre-check each request in memory (replay, credential, tenant standing, plan, module,
--    model, rate). What passes is a candidate for consuming.
-- 3. Lock the candidates' counters, accounts and leases, each row once, in one global
--    order (tenant, then the meter before the key's meter; all counters, then all
--    accounts, then all leases), the order the reference path follows within a tenant.
-- 4. Decide the candidates in arrival order against those rows, in memory.
-- 5. Write everything with one statement per table.
-- Planner settings: JIT off (a batch's estimates can pass jit_above_cost, and compiling
-- the read statement took most of a second for a statement that runs in a millisecond);
-- generic plans (planned once per connection, not again for every batch).
CREATE FUNCTION tollgate_decide(batch jsonb, ctx jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql
  SET jit = off SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
  now_ts     timestamptz := (ctx->>'now')::timestamptz;
  plans      jsonb := ctx->'plans';
  n          int := jsonb_array_length(batch);
  answers    jsonb[] := array_fill(NULL::jsonb, ARRAY[n]);
  r          record;
  d          jsonb;
  tid        text;
  uid        text;
  idem       text;
  ans        jsonb;
  v_denial   jsonb;
  v_code     text;
  v_principal jsonb;
  plan_id    text;
  v_plan     jsonb;
  tenant_v   jsonb;
  -- candidates, in arrival order
  nc         int := 0;
  c_ord      int[] := '{}';
  c_d        jsonb[] := '{}';
  c_tid      text[] := '{}';
  c_ps       timestamptz[] := '{}';
  c_pe       timestamptz[] := '{}';
  c_role     text[] := '{}';
  c_denial   jsonb[] := '{}';
  c_meter    text[] := '{}';
  c_mlimit   bigint[] := '{}';
  c_kmeter   text[] := '{}';
  c_runs     bigint[] := '{}';
  -- counters: (tenant|meter) → index
  cmap       jsonb;
  k_tid      text[];
  k_meter    text[];
  k_ps       timestamptz[];
  k_pe       timestamptz[];
  k_used     bigint[];
  k_found    boolean[];
  k_touched  boolean[];
  -- tenants: tenant → index, for accounts and leases
  tmap       jsonb;
  t_id       text[];
  a_found    boolean[];
  a_bal      bigint[];
  a_res      bigint[];
  a_touched  boolean[];
  l_found    boolean[];
  l_live     bigint[];
  l_add      jsonb[];
  -- deciding one candidate
  j          int;
  mi         int;
  ki         int;
  ti         int;
  period_e   text;
  m_limit    bigint;
  m_used     bigint;
  m_open     boolean;
  v_bypass   boolean;
  k_cap      bigint;
  v_cost     bigint;
  runs_cap   bigint;
  credit_ok  boolean;
  v_limits   jsonb;
  v_res      jsonb;
  -- rows to write
  w_events   jsonb[] := '{}';
  w_audit    jsonb[] := '{}';
  w_res      jsonb[] := '{}';
  w_ledger   jsonb[] := '{}';
  w_replays  jsonb[] := '{}';
  written    bigint;
  expected   bigint;
BEGIN
  PERFORM set_config('app.tenant_ids', (SELECT string_agg(DISTINCT value->>'tenantId', ',') FROM jsonb_array_elements(batch)), true);

  -- 1. Locks of the idempotency keys, then one read for all requests.
  PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
     FROM (SELECT DISTINCT (value->>'tenantId') || ':authorize:' || (value->>'idempotencyKey') AS k
             FROM jsonb_array_elements(batch) WHERE value->>'idempotencyKey' IS NOT NULL ORDER BY 1) keys;

  FOR r IN
    SELECT b.ord::int AS ord, b.d, dr.request_hash AS rp_hash, dr.decision AS rp_answer,
           t.status AS t_status,
           CASE b.d->>'principalType'
             WHEN 'api_key' THEN EXISTS (SELECT 1 FROM api_keys k WHERE k.tenant_id = b.d->>'tenantId' AND k.id = b.d->>'keyId' AND k.revoked_at IS NULL
                                           AND (k.expires_at IS NULL OR k.expires_at > now_ts) AND (k.grace_until IS NULL OR k.grace_until > now_ts))
             WHEN 'service' THEN EXISTS (SELECT 1 FROM service_keys sk WHERE sk.id = b.d->>'keyId' AND sk.revoked_at IS NULL)
             ELSE true END AS key_ok,
           m.role AS m_role, u.status AS u_status,
           s.plan AS sub_plan, s.status AS sub_status, s.current_period_start AS ps, s.current_period_end AS pe,
           s.trial_ends_at, s.past_due_since, o.limits AS ov_limits, o.enterprise AS ov_enterprise,
           EXISTS (SELECT 1 FROM tenant_modules tm WHERE tm.tenant_id = b.d->>'tenantId' AND tm.module = b.d->>'module' AND NOT tm.enabled) AS switched_off,
           -- The caller names the period it saw granted before (grants are append-only), which spares the look-up.
           CASE WHEN (b.d->>'grantedPeriod')::timestamptz IS NOT DISTINCT FROM s.current_period_start THEN true
                ELSE EXISTS (SELECT 1 FROM credit_ledger cl WHERE cl.tenant_id = b.d->>'tenantId'
                                AND cl.idempotency_key = 'period:' || tollgate_iso(s.current_period_start)) END AS granted
      FROM jsonb_array_elements(batch) WITH ORDINALITY b(d, ord)
      LEFT JOIN decision_replays dr ON dr.tenant_id = b.d->>'tenantId' AND dr.idempotency_key = b.d->>'idempotencyKey'
      LEFT JOIN tenants t ON t.id = b.d->>'tenantId'
      LEFT JOIN subscriptions s ON s.tenant_id = b.d->>'tenantId'
      LEFT JOIN tenant_overrides o ON o.tenant_id = b.d->>'tenantId'
      LEFT JOIN memberships m ON m.tenant_id = b.d->>'tenantId' AND m.user_id = b.d->>'userId'
      LEFT JOIN users u ON u.id = b.d->>'userId'
     ORDER BY b.ord
  LOOP
    -- 2. Pre-checks, in the reference path's order.
    d := r.d; tid := d->>'tenantId'; uid := d->>'userId'; idem := d->>'idempotencyKey';
    IF r.rp_hash IS NOT NULL THEN
      answers[r.ord] := CASE WHEN r.rp_hash <> d->>'hash' THEN '{"error": "IDEMPOTENCY_CONFLICT"}'::jsonb
                             ELSE jsonb_build_object('replay', r.rp_answer) END;
      CONTINUE;
    END IF;
    IF NOT r.key_ok THEN answers[r.ord] := '{"error": "UNAUTHENTICATED"}'; CONTINUE; END IF;
    IF r.t_status IS NULL THEN answers[r.ord] := '{"error": "TENANT_NOT_FOUND"}'; CONTINUE; END IF;
    IF uid IS NOT NULL THEN
      IF r.m_role IS NULL OR r.u_status IS NULL THEN answers[r.ord] := jsonb_build_object('error', d->>'absent'); CONTINUE; END IF;
      IF r.u_status <> 'active' THEN answers[r.ord] := '{"error": "USER_DEACTIVATED"}'; CONTINUE; END IF;
    END IF;
    ans := NULL;
    v_principal := d->'principal';
    v_denial := jsonb_build_object('allowed', false, 'decisionId', d->>'decisionId', 'operation', d->'operation',
      'limits', '[]'::jsonb, 'credits', NULL, 'reservation', NULL, 'bypass', NULL, 'route', jsonb_build_object('provider', 'default'));
    <<pre>>
    BEGIN
      v_code := CASE
        WHEN r.t_status = 'suspended' THEN 'TENANT_SUSPENDED'
        WHEN r.t_status = 'closed' THEN 'TENANT_CLOSED'
        WHEN r.sub_status IN ('canceled', 'pending_payment', 'suspended')
          OR (r.sub_status = 'past_due' AND (r.past_due_since IS NULL
              OR now_ts >= r.past_due_since + make_interval(secs => (ctx->>'pastDueGraceSeconds')::double precision)))
          OR (r.sub_status = 'trialing' AND r.trial_ends_at IS NOT NULL AND now_ts >= r.trial_ends_at) THEN 'PAYMENT_REQUIRED'
      END;
      IF v_code IS NOT NULL THEN
        ans := v_denial || jsonb_build_object('code', v_code, 'tenant', jsonb_build_object('id', tid, 'plan', NULL, 'enterprise', false), 'principal', v_principal);
        EXIT pre;
      END IF;
      IF uid IS NOT NULL THEN v_principal := v_principal || jsonb_build_object('role', r.m_role); END IF;

      -- Standing: a period to roll or a grant to write is the reference path's job.
      IF r.sub_status IS NULL OR r.pe <= now_ts THEN answers[r.ord] := '{"slow": true}'; CONTINUE; END IF;
      plan_id := CASE WHEN plans ? r.sub_plan THEN r.sub_plan ELSE ctx->>'defaultPlan' END;
      v_plan := plans->plan_id;
      IF (v_plan->>'creditsPerPeriod')::bigint > 0 AND NOT r.granted THEN answers[r.ord] := '{"slow": true}'; CONTINUE; END IF;
      tenant_v := jsonb_build_object('id', tid, 'plan', plan_id, 'enterprise', coalesce(r.ov_enterprise, (v_plan->>'enterprise')::boolean, false));
      v_denial := v_denial || jsonb_build_object('tenant', tenant_v, 'principal', v_principal);

      IF NOT (v_plan->'modules' ? (d->>'module')) THEN ans := v_denial || '{"code": "NOT_IN_PLAN"}'; EXIT pre; END IF;
      IF r.switched_off THEN ans := v_denial || '{"code": "MODULE_DISABLED"}'; EXIT pre; END IF;
      IF jsonb_typeof(d->'modelPlans') = 'array' AND NOT (d->'modelPlans' ? plan_id) THEN ans := v_denial || '{"code": "NOT_IN_PLAN"}'; EXIT pre; END IF;
      -- The rate limit was consulted by the caller (its store is not the database).
      IF d->>'rate' = 'unavailable' THEN answers[r.ord] := '{"error": "RATE_LIMIT_UNAVAILABLE"}'; CONTINUE; END IF;
      IF d->>'rate' = 'limited' THEN
        ans := v_denial || jsonb_build_object('code', 'RATE_LIMITED', 'retryAfterMs', (d->>'retryAfterMs')::bigint);
        EXIT pre;
      END IF;

      nc := nc + 1;
      c_ord[nc] := r.ord; c_d[nc] := d; c_tid[nc] := tid; c_ps[nc] := r.ps; c_pe[nc] := r.pe; c_role[nc] := r.m_role;
      c_denial[nc] := v_denial;
      c_meter[nc] := d->>'meter';
      c_mlimit[nc] := coalesce((r.ov_limits->>(d->>'meter'))::bigint, (v_plan->'limits'->>(d->>'meter'))::bigint);
      c_kmeter[nc] := CASE WHEN d->>'keyCap' IS NULL THEN NULL ELSE 'key:' || (d->>'keyId') END;
      c_runs[nc] := coalesce((r.ov_limits->>'concurrentRuns')::bigint, (v_plan->>'concurrentRuns')::bigint);
    END pre;
    IF ans IS NOT NULL THEN
      answers[r.ord] := jsonb_build_object('decision', ans);
      IF idem IS NOT NULL THEN
        w_replays := w_replays || jsonb_build_object('tenant_id', tid, 'idempotency_key', idem, 'request_hash', d->>'hash', 'decision', ans, 'created_at', now_ts);
      END IF;
    END IF;
  END LOOP;

  IF nc > 0 THEN
    -- 3. The rows to consume, each once, locked in one order.
    SELECT coalesce(jsonb_object_agg(x.tid || '|' || x.m, x.i), '{}'::jsonb),
           array_agg(x.tid ORDER BY x.i), array_agg(x.m ORDER BY x.i), array_agg(x.ps ORDER BY x.i), array_agg(x.pe ORDER BY x.i)
      INTO cmap, k_tid, k_meter, k_ps, k_pe
      FROM (SELECT w.*, row_number() OVER (ORDER BY w.tid, w.m LIKE 'key:%', w.m) AS i
              FROM (SELECT DISTINCT u.tid, u.m, u.ps, u.pe FROM unnest(c_tid || c_tid, c_meter || c_kmeter, c_ps || c_ps, c_pe || c_pe) AS u(tid, m, ps, pe)
                     WHERE u.m IS NOT NULL) w) x;
    k_used := array_fill(0::bigint, ARRAY[coalesce(array_length(k_tid, 1), 0)]);
    k_found := array_fill(false, ARRAY[coalesce(array_length(k_tid, 1), 0)]);
    k_touched := k_found;
    FOR r IN
      SELECT uc.tenant_id || '|' || uc.meter AS k, uc.used FROM usage_counters uc
       WHERE (uc.tenant_id, uc.meter, uc.period_start) IN (SELECT * FROM unnest(k_tid, k_meter, k_ps))
       ORDER BY uc.tenant_id, uc.meter LIKE 'key:%', uc.meter FOR UPDATE
    LOOP
      mi := (cmap->>r.k)::int;
      k_used[mi] := r.used; k_found[mi] := true;
    END LOOP;

    SELECT jsonb_object_agg(x.tid, x.i), array_agg(x.tid ORDER BY x.i) INTO tmap, t_id
      FROM (SELECT w.tid, row_number() OVER (ORDER BY w.tid) AS i FROM (SELECT DISTINCT unnest(c_tid) AS tid) w) x;
    a_found := array_fill(false, ARRAY[array_length(t_id, 1)]);
    a_touched := a_found; l_found := a_found;
    a_bal := array_fill(0::bigint, ARRAY[array_length(t_id, 1)]);
    a_res := a_bal; l_live := a_bal;
    l_add := array_fill(NULL::jsonb, ARRAY[array_length(t_id, 1)]);
    FOR r IN SELECT tenant_id, balance, reserved FROM credit_accounts WHERE tenant_id = ANY (t_id) ORDER BY tenant_id FOR UPDATE LOOP
      ti := (tmap->>r.tenant_id)::int;
      a_found[ti] := true; a_bal[ti] := r.balance; a_res[ti] := r.reserved;
    END LOOP;
    FOR r IN
      SELECT rl.tenant_id, (SELECT count(*) FROM jsonb_each_text(rl.leases) e WHERE e.value::timestamptz > now_ts) AS live
        FROM run_leases rl
       WHERE rl.tenant_id = ANY (SELECT DISTINCT u.tid FROM unnest(c_tid, c_runs) u(tid, runs) WHERE u.runs IS NOT NULL)
       ORDER BY rl.tenant_id FOR UPDATE
    LOOP
      ti := (tmap->>r.tenant_id)::int;
      l_found[ti] := true; l_live[ti] := r.live;
    END LOOP;

    -- 4. Each candidate in arrival order; nothing is consumed unless all of it fits.
    FOR j IN 1..nc LOOP
      d := c_d[j]; tid := c_tid[j]; idem := d->>'idempotencyKey'; v_denial := c_denial[j];
      period_e := tollgate_iso(c_pe[j]);
      v_limits := '[]'::jsonb; v_bypass := false; ans := NULL; mi := NULL; ki := NULL;
      m_limit := c_mlimit[j]; k_cap := (d->>'keyCap')::bigint; v_cost := (d->>'credits')::bigint; runs_cap := c_runs[j];
      v_res := d->'reservation';
      <<dec>>
      BEGIN
        IF c_meter[j] IS NOT NULL THEN
          mi := (cmap->>(tid || '|' || c_meter[j]))::int;
          m_used := k_used[mi];
          v_bypass := c_role[j] IS NOT NULL AND (d->'bypassRoles') ? c_role[j];
          m_open := m_limit IS NULL OR v_bypass;
          IF NOT m_open AND m_used + 1 > m_limit THEN
            ans := v_denial || jsonb_build_object('code', 'LIMIT_EXCEEDED', 'limits', jsonb_build_array(tollgate_limit_view(c_meter[j], m_used, m_limit, period_e)));
            EXIT dec;
          END IF;
          v_bypass := v_bypass AND m_limit IS NOT NULL AND m_used + 1 > m_limit;
          v_limits := v_limits || tollgate_limit_view(c_meter[j], m_used + 1, m_limit, period_e);
        END IF;
        IF c_kmeter[j] IS NOT NULL THEN
          ki := (cmap->>(tid || '|' || c_kmeter[j]))::int;
          IF k_used[ki] + 1 > k_cap THEN
            ans := v_denial || jsonb_build_object('code', 'LIMIT_EXCEEDED', 'limits', v_limits || tollgate_limit_view(c_kmeter[j], k_used[ki], k_cap, period_e));
            EXIT dec;
          END IF;
          v_limits := v_limits || tollgate_limit_view(c_kmeter[j], k_used[ki] + 1, k_cap, period_e);
        END IF;
        ti := (tmap->>tid)::int;
        credit_ok := a_found[ti] AND a_bal[ti] - a_res[ti] >= v_cost;
        IF runs_cap IS NOT NULL THEN
          IF runs_cap < 1 OR l_live[ti] >= runs_cap THEN
            ans := v_denial || jsonb_build_object('code', 'LIMIT_EXCEEDED', 'limits', v_limits || tollgate_limit_view('concurrentRuns', l_live[ti], runs_cap, NULL));
            EXIT dec;
          END IF;
          v_limits := v_limits || tollgate_limit_view('concurrentRuns', l_live[ti] + 1, runs_cap, NULL);
        END IF;
        IF NOT credit_ok THEN
          ans := v_denial || jsonb_build_object('code', 'INSUFFICIENT_CREDITS', 'limits', v_limits,
            'credits', jsonb_build_object('balance', a_bal[ti], 'reserved', a_res[ti], 'available', a_bal[ti] - a_res[ti]));
          EXIT dec;
        END IF;

        -- It fits: consume.
        IF mi IS NOT NULL THEN
          k_used[mi] := k_used[mi] + 1; k_touched[mi] := true;
          w_events := w_events || jsonb_build_object('tenant_id', tid, 'id', d->'ids'->>'event', 'meter', c_meter[j], 'quantity', 1, 'period_start', c_ps[j],
            'bypass', v_bypass, 'role', c_role[j], 'actor_type', d->'actor'->>'type', 'actor_id', d->'actor'->>'id', 'used_after', k_used[mi],
            'limit_value', m_limit, 'created_at', now_ts);
          IF v_bypass THEN
            w_audit := w_audit || jsonb_build_object('tenant_id', tid, 'id', d->'ids'->>'audit', 'actor_type', d->'actor'->>'type', 'actor_id', d->'actor'->>'id',
              'action', 'limit.bypass', 'target_type', 'meter', 'target_id', c_meter[j],
              'data', jsonb_build_object('role', c_role[j], 'used', k_used[mi], 'limit', m_limit, 'periodStart', tollgate_iso(c_ps[j])),
              'request_id', d->>'requestId', 'created_at', now_ts);
          END IF;
        END IF;
        IF ki IS NOT NULL THEN
          k_used[ki] := k_used[ki] + 1; k_touched[ki] := true;
          w_events := w_events || jsonb_build_object('tenant_id', tid, 'id', d->'ids'->>'keyEvent', 'meter', c_kmeter[j], 'quantity', 1, 'period_start', c_ps[j],
            'bypass', false, 'role', NULL, 'actor_type', d->'actor'->>'type', 'actor_id', d->'actor'->>'id', 'used_after', k_used[ki],
            'limit_value', k_cap, 'created_at', now_ts);
        END IF;
        a_res[ti] := a_res[ti] + v_cost; a_touched[ti] := true;
        w_res := w_res || jsonb_build_object('tenant_id', tid, 'id', v_res->>'id', 'idempotency_key', v_res->>'key', 'request_hash', v_res->>'hash',
          'operation', v_res->>'operation', 'model', v_res->>'model', 'amount', v_cost, 'status', 'held', 'charged', 0, 'refunded', 0,
          'expires_at', v_res->>'expiresAt', 'created_at', now_ts);
        w_ledger := w_ledger || jsonb_build_object('tenant_id', tid, 'id', d->'ids'->>'ledger', 'kind', 'reserve', 'amount', 0, 'hold', v_cost,
          'balance_after', a_bal[ti], 'reserved_after', a_res[ti], 'reservation_id', v_res->>'id', 'idempotency_key', 'reserve:' || (v_res->>'key'),
          'request_hash', v_res->>'hash', 'reason', v_res->>'operation', 'actor_type', d->'actor'->>'type', 'actor_id', d->'actor'->>'id', 'created_at', now_ts);
        IF runs_cap IS NOT NULL THEN
          l_live[ti] := l_live[ti] + 1;
          -- The run slot is leased under the reservation's id, so settling or releasing it frees the slot.
          l_add[ti] := coalesce(l_add[ti], '{}'::jsonb) || jsonb_build_object(v_res->>'id', v_res->>'expiresAt');
        END IF;
        ans := jsonb_build_object('allowed', true, 'code', 'OK', 'decisionId', d->>'decisionId', 'tenant', v_denial->'tenant',
          'principal', v_denial->'principal', 'operation', d->'operation', 'limits', v_limits,
          'credits', jsonb_build_object('balance', a_bal[ti], 'reserved', a_res[ti], 'available', a_bal[ti] - a_res[ti]),
          'reservation', jsonb_build_object('id', v_res->>'id', 'credits', v_cost, 'expiresAt', v_res->>'expiresAt'),
          'bypass', CASE WHEN v_bypass THEN jsonb_build_object('reason', c_role[j], 'meter', c_meter[j]) END,
          'route', jsonb_build_object('provider', 'default'));
      END dec;
      answers[c_ord[j]] := jsonb_build_object('decision', ans);
      IF ans->>'code' = 'OK' THEN answers[c_ord[j]] := answers[c_ord[j]] || jsonb_build_object('grantedPeriod', tollgate_iso(c_ps[j])); END IF;
      IF idem IS NOT NULL THEN
        w_replays := w_replays || jsonb_build_object('tenant_id', tid, 'idempotency_key', idem, 'request_hash', d->>'hash', 'decision', ans, 'created_at', now_ts);
      END IF;
    END LOOP;

    -- 5. Write. A counter or lease row that did not exist when locked may have been
    -- created since by another transaction; then the batch fails (40001) and its
    -- requests take the reference path.
    UPDATE usage_counters c SET used = u.used, updated_at = now_ts
      FROM unnest(k_tid, k_meter, k_ps, k_used, k_found, k_touched) AS u(tid, m, ps, used, was, touched)
     WHERE u.was AND u.touched AND c.tenant_id = u.tid AND c.meter = u.m AND c.period_start = u.ps;
    SELECT count(*) INTO expected FROM unnest(k_found, k_touched) AS u(was, touched) WHERE u.touched AND NOT u.was;
    IF expected > 0 THEN
      INSERT INTO usage_counters (tenant_id, meter, period_start, period_end, used, updated_at)
      SELECT u.tid, u.m, u.ps, u.pe, u.used, now_ts FROM unnest(k_tid, k_meter, k_ps, k_pe, k_used, k_found, k_touched) AS u(tid, m, ps, pe, used, was, touched)
       WHERE u.touched AND NOT u.was
      ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> expected THEN RAISE EXCEPTION 'a counter was created under the batch' USING ERRCODE = '40001'; END IF;
    END IF;
    UPDATE credit_accounts a SET reserved = u.res, updated_at = now_ts
      FROM unnest(t_id, a_res, a_touched) AS u(tid, res, touched) WHERE u.touched AND a.tenant_id = u.tid;
    UPDATE run_leases rl
       SET leases = coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each_text(rl.leases) e WHERE e.value::timestamptz > now_ts), '{}'::jsonb) || u.add,
           updated_at = now_ts
      FROM unnest(t_id, l_add, l_found) AS u(tid, add, was) WHERE u.was AND u.add IS NOT NULL AND rl.tenant_id = u.tid;
    SELECT count(*) INTO expected FROM unnest(l_add, l_found) AS u(add, was) WHERE u.add IS NOT NULL AND NOT u.was;
    IF expected > 0 THEN
      INSERT INTO run_leases (tenant_id, leases, updated_at)
      SELECT u.tid, u.add, now_ts FROM unnest(t_id, l_add, l_found) AS u(tid, add, was) WHERE u.add IS NOT NULL AND NOT u.was
      ON CONFLICT DO NOTHING;
      GET DIAGNOSTICS written = ROW_COUNT;
      IF written <> expected THEN RAISE EXCEPTION 'a lease row was created under the batch' USING ERRCODE = '40001'; END IF;
    END IF;
    INSERT INTO usage_events SELECT e.* FROM unnest(w_events) x, jsonb_populate_record(NULL::usage_events, x) e;
    INSERT INTO audit_log SELECT e.* FROM unnest(w_audit) x, jsonb_populate_record(NULL::audit_log, x) e;
    INSERT INTO credit_reservations SELECT e.* FROM unnest(w_res) x, jsonb_populate_record(NULL::credit_reservations, x) e;
    INSERT INTO credit_ledger SELECT e.* FROM unnest(w_ledger) x, jsonb_populate_record(NULL::credit_ledger, x) e;
  END IF;
  -- Stored under the keys' locks: a retry sees this answer, allowed or refused.
  INSERT INTO decision_replays SELECT e.* FROM unnest(w_replays) x, jsonb_populate_record(NULL::decision_replays, x) e ON CONFLICT DO NOTHING;

  FOR j IN 1..n LOOP
    RETURN NEXT answers[j];
  END LOOP;
END $fn$;
