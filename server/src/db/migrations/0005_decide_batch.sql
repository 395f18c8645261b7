-- Group commit for the decision: tollgate_decide(batch, ctx) decides a batch of
-- authorize requests in one statement, so one round trip and one commit serve them all.
--
-- It is the same decision as GateService's per-request path (gate/service.ts), which
-- stays the reference: the same conditional checks in the same order, the same rows
-- written, the same answer. What it cannot do in place it hands back as {"slow": true}
-- (a period to roll, a period grant not yet written, no subscription) and the caller
-- runs the reference path for that request. Row-level security applies: the function
-- runs as the caller and scopes itself to each request's tenant in turn.
--
-- Requests arrive sorted by tenant, so concurrent batches lock tenants in one order; per
-- tenant, rows are locked in the reference path's order (counters, account, leases).

-- An instant as JavaScript's Date#toISOString spells it (ids, keys and answers use it).
CREATE FUNCTION tollgate_iso(ts timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- One meter's line in a decision's "limits".
CREATE FUNCTION tollgate_limit_view(meter text, used bigint, lim bigint, resets_at text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('meter', meter, 'used', used, 'limit', lim,
    'remaining', CASE WHEN lim IS NULL THEN NULL ELSE greatest(0, lim - used) END, 'resetsAt', resets_at)
$$;

CREATE FUNCTION tollgate_decide_one(d jsonb, ctx jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  tid         text := d->>'tenantId';
  now_ts      timestamptz := (ctx->>'now')::timestamptz;
  idem        text := d->>'idempotencyKey';
  uid         text := d->>'userId';
  key_id      text := d->>'keyId';
  v_principal jsonb := d->'principal';
  v_module    text := d->>'module';
  v_meter     text := d->>'meter';
  v_res       jsonb := d->'reservation';
  v_cost      bigint := (d->>'credits')::bigint;
  k_cap       bigint := (d->>'keyCap')::bigint;
  key_meter   text := CASE WHEN d->>'keyCap' IS NULL THEN NULL ELSE 'key:' || key_id END;
  prev        record;
  st          record;
  v_denial    jsonb;
  v_code      text;
  plan_id     text;
  v_plan      jsonb;
  tenant_v    jsonb;
  period_e    text;
  v_limits    jsonb := '[]'::jsonb;
  m_limit     bigint;
  m_used      bigint;
  m_open      boolean;
  v_bypass    boolean := false;
  k_used      bigint;
  acct        record;
  credit_ok   boolean;
  runs_cap    bigint;
  lease_id    text;
  l_leases    jsonb;
  l_found     boolean;
  l_live      bigint;
  done        record;
BEGIN
  -- A retry with the same idempotency key gets the first answer, under the key's lock
  -- (the same lock as the reference path's: db/locks.ts).
  IF idem IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(tid || ':authorize:' || idem, 0));
    SELECT request_hash, decision AS answer INTO prev FROM decision_replays WHERE tenant_id = tid AND idempotency_key = idem;
    IF FOUND THEN
      IF prev.request_hash <> d->>'hash' THEN RETURN jsonb_build_object('error', 'IDEMPOTENCY_CONFLICT'); END IF;
      RETURN jsonb_build_object('replay', prev.answer);
    END IF;
  END IF;

  -- Everything the decision reads, as it is now (whatever caches said), in one statement.
  SELECT t.status AS t_status,
         CASE d->>'principalType'
           WHEN 'api_key' THEN EXISTS (SELECT 1 FROM api_keys k WHERE k.tenant_id = tid AND k.id = key_id AND k.revoked_at IS NULL
                                         AND (k.expires_at IS NULL OR k.expires_at > now_ts) AND (k.grace_until IS NULL OR k.grace_until > now_ts))
           WHEN 'service' THEN EXISTS (SELECT 1 FROM service_keys sk WHERE sk.id = key_id AND sk.revoked_at IS NULL)
           ELSE true END AS key_ok,
         m.role AS m_role, u.status AS u_status,
         s.plan AS sub_plan, s.status AS sub_status, s.current_period_start AS ps, s.current_period_end AS pe,
         s.trial_ends_at, s.past_due_since, o.limits AS ov_limits, o.enterprise AS ov_enterprise,
         EXISTS (SELECT 1 FROM tenant_modules tm WHERE tm.tenant_id = tid AND tm.module = v_module AND NOT tm.enabled) AS switched_off
    INTO st
    FROM (SELECT 1) one
    LEFT JOIN tenants t ON t.id = tid
    LEFT JOIN subscriptions s ON s.tenant_id = tid
    LEFT JOIN tenant_overrides o ON o.tenant_id = tid
    LEFT JOIN memberships m ON uid IS NOT NULL AND m.tenant_id = tid AND m.user_id = uid
    LEFT JOIN users u ON uid IS NOT NULL AND u.id = uid;
  IF NOT st.key_ok THEN RETURN jsonb_build_object('error', 'UNAUTHENTICATED'); END IF;
  IF st.t_status IS NULL THEN RETURN jsonb_build_object('error', 'TENANT_NOT_FOUND'); END IF;
  IF uid IS NOT NULL THEN
    IF st.m_role IS NULL OR st.u_status IS NULL THEN RETURN jsonb_build_object('error', d->>'absent'); END IF;
    IF st.u_status <> 'active' THEN RETURN jsonb_build_object('error', 'USER_DEACTIVATED'); END IF;
  END IF;
  v_denial := jsonb_build_object('allowed', false, 'decisionId', d->>'decisionId', 'operation', d->'operation',
    'limits', '[]'::jsonb, 'credits', NULL, 'reservation', NULL, 'bypass', NULL, 'route', jsonb_build_object('provider', 'default'));
  IF st.t_status = 'suspended' THEN v_code := 'TENANT_SUSPENDED';
  ELSIF st.t_status = 'closed' THEN v_code := 'TENANT_CLOSED';
  ELSIF st.sub_status IN ('canceled', 'pending_payment', 'suspended')
     OR (st.sub_status = 'past_due' AND (st.past_due_since IS NULL
         OR now_ts >= st.past_due_since + make_interval(secs => (ctx->>'pastDueGraceSeconds')::double precision)))
     OR (st.sub_status = 'trialing' AND st.trial_ends_at IS NOT NULL AND now_ts >= st.trial_ends_at) THEN
    v_code := 'PAYMENT_REQUIRED';
  END IF;
  IF v_code IS NOT NULL THEN
    RETURN tollgate_decided(d, v_denial || jsonb_build_object('code', v_code,
      'tenant', jsonb_build_object('id', tid, 'plan', NULL, 'enterprise', false), 'principal', v_principal), now_ts);
  END IF;
  IF uid IS NOT NULL THEN v_principal := v_principal || jsonb_build_object('role', st.m_role); END IF;

  -- Standing: a period to roll or a grant to write is the reference path's job.
  IF st.sub_status IS NULL OR st.pe <= now_ts THEN RETURN jsonb_build_object('slow', true); END IF;
  plan_id := CASE WHEN ctx->'plans' ? st.sub_plan THEN st.sub_plan ELSE ctx->>'defaultPlan' END;
  v_plan := ctx->'plans'->plan_id;
  -- The caller names the period it saw granted before (the grant is append-only), which
  -- spares the look-up; a statement of its own, as a correlated subquery it scanned the ledger.
  IF (v_plan->>'creditsPerPeriod')::bigint > 0 AND (d->>'grantedPeriod')::timestamptz IS DISTINCT FROM st.ps AND NOT EXISTS (
    SELECT 1 FROM credit_ledger WHERE tenant_id = tid AND idempotency_key = 'period:' || tollgate_iso(st.ps)) THEN
    RETURN jsonb_build_object('slow', true);
  END IF;
  period_e := tollgate_iso(st.pe);
  tenant_v := jsonb_build_object('id', tid, 'plan', plan_id, 'enterprise', coalesce(st.ov_enterprise, (v_plan->>'enterprise')::boolean, false));
  v_denial := v_denial || jsonb_build_object('tenant', tenant_v, 'principal', v_principal);

  IF NOT (v_plan->'modules' ? v_module) THEN RETURN tollgate_decided(d, v_denial || '{"code": "NOT_IN_PLAN"}', now_ts); END IF;
  IF st.switched_off THEN RETURN tollgate_decided(d, v_denial || '{"code": "MODULE_DISABLED"}', now_ts); END IF;
  IF jsonb_typeof(d->'modelPlans') = 'array' AND NOT (d->'modelPlans' ? plan_id) THEN
    RETURN tollgate_decided(d, v_denial || '{"code": "NOT_IN_PLAN"}', now_ts);
  END IF;
  -- The rate limit was consulted by the caller (its store is not the database).
  IF d->>'rate' = 'unavailable' THEN RETURN jsonb_build_object('error', 'RATE_LIMIT_UNAVAILABLE'); END IF;
  IF d->>'rate' = 'limited' THEN
    RETURN tollgate_decided(d, v_denial || jsonb_build_object('code', 'RATE_LIMITED', 'retryAfterMs', (d->>'retryAfterMs')::bigint), now_ts);
  END IF;

  -- Lock what the decision may consume (the reference path's order: the meter, the key's
  -- meter, the account, the leases) and decide; nothing is written until all of it fits.
  IF v_meter IS NOT NULL OR key_meter IS NOT NULL THEN
    SELECT max(c.used) FILTER (WHERE c.meter = v_meter), max(c.used) FILTER (WHERE c.meter = key_meter) INTO m_used, k_used
      FROM (SELECT uc.meter, uc.used FROM usage_counters uc
             WHERE uc.tenant_id = tid AND uc.period_start = st.ps AND uc.meter IN (v_meter, key_meter)
             ORDER BY uc.meter = key_meter FOR UPDATE) c;
  END IF;
  IF v_meter IS NOT NULL THEN
    m_limit := coalesce((st.ov_limits->>v_meter)::bigint, (v_plan->'limits'->>v_meter)::bigint);
    v_bypass := st.m_role IS NOT NULL AND (d->'bypassRoles') ? st.m_role;
    m_open := m_limit IS NULL OR v_bypass;
    m_used := coalesce(m_used, 0);
    IF NOT m_open AND m_used + 1 > m_limit THEN
      RETURN tollgate_decided(d, v_denial || jsonb_build_object('code', 'LIMIT_EXCEEDED',
        'limits', jsonb_build_array(tollgate_limit_view(v_meter, m_used, m_limit, period_e))), now_ts);
    END IF;
    v_bypass := v_bypass AND m_limit IS NOT NULL AND m_used + 1 > m_limit;
    v_limits := v_limits || tollgate_limit_view(v_meter, m_used + 1, m_limit, period_e);
  END IF;
  IF key_meter IS NOT NULL THEN
    k_used := coalesce(k_used, 0);
    IF k_used + 1 > k_cap THEN
      RETURN tollgate_decided(d, v_denial || jsonb_build_object('code', 'LIMIT_EXCEEDED',
        'limits', v_limits || tollgate_limit_view(key_meter, k_used, k_cap, period_e)), now_ts);
    END IF;
    v_limits := v_limits || tollgate_limit_view(key_meter, k_used + 1, k_cap, period_e);
  END IF;
  SELECT balance, reserved INTO acct FROM credit_accounts WHERE tenant_id = tid FOR UPDATE;
  credit_ok := FOUND AND acct.balance - acct.reserved >= v_cost;
  runs_cap := coalesce((st.ov_limits->>'concurrentRuns')::bigint, (v_plan->>'concurrentRuns')::bigint);
  IF runs_cap IS NOT NULL THEN
    lease_id := CASE WHEN credit_ok THEN v_res->>'id' ELSE d->>'decisionId' END;
    SELECT leases INTO l_leases FROM run_leases WHERE tenant_id = tid FOR UPDATE;
    l_found := FOUND;
    SELECT count(*) INTO l_live FROM jsonb_each_text(coalesce(l_leases, '{}'::jsonb)) WHERE value::timestamptz > now_ts;
    IF runs_cap < 1 OR l_live >= runs_cap THEN
      RETURN tollgate_decided(d, v_denial || jsonb_build_object('code', 'LIMIT_EXCEEDED',
        'limits', v_limits || tollgate_limit_view('concurrentRuns', l_live, runs_cap, NULL)), now_ts);
    END IF;
    v_limits := v_limits || tollgate_limit_view('concurrentRuns', l_live + 1, runs_cap, NULL);
  END IF;
  IF NOT credit_ok THEN
    RETURN tollgate_decided(d, v_denial || jsonb_build_object('code', 'INSUFFICIENT_CREDITS', 'limits', v_limits,
      'credits', jsonb_build_object('balance', coalesce(acct.balance, 0), 'reserved', coalesce(acct.reserved, 0),
                                    'available', coalesce(acct.balance - acct.reserved, 0))), now_ts);
  END IF;

  -- It fits: consume, in one statement. The counters are written by the reference path's
  -- conditional upsert; a row that did not exist when locked may have been created since,
  -- and if an upsert then disagrees the whole batch fails (40001) and its requests take
  -- the reference path.
  WITH mc AS (
    INSERT INTO usage_counters AS c (tenant_id, meter, period_start, period_end, used, updated_at)
    SELECT tid, v_meter, st.ps, st.pe, 1, now_ts WHERE v_meter IS NOT NULL
    ON CONFLICT (tenant_id, meter, period_start) DO UPDATE SET used = c.used + 1, updated_at = EXCLUDED.updated_at
      WHERE m_open OR c.used + 1 <= m_limit
    RETURNING c.used
  ), me AS (
    INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id, used_after, limit_value, created_at)
    SELECT tid, d->'ids'->>'event', v_meter, 1, st.ps, v_bypass, st.m_role, d->'actor'->>'type', d->'actor'->>'id', mc.used, m_limit, now_ts FROM mc
  ), ba AS (
    INSERT INTO audit_log (tenant_id, id, actor_type, actor_id, action, target_type, target_id, data, request_id, created_at)
    SELECT tid, d->'ids'->>'audit', d->'actor'->>'type', d->'actor'->>'id', 'limit.bypass', 'meter', v_meter,
           jsonb_build_object('role', st.m_role, 'used', mc.used, 'limit', m_limit, 'periodStart', tollgate_iso(st.ps)), d->>'requestId', now_ts
      FROM mc WHERE v_bypass
  ), kc AS (
    INSERT INTO usage_counters AS c (tenant_id, meter, period_start, period_end, used, updated_at)
    SELECT tid, key_meter, st.ps, st.pe, 1, now_ts WHERE key_meter IS NOT NULL
    ON CONFLICT (tenant_id, meter, period_start) DO UPDATE SET used = c.used + 1, updated_at = EXCLUDED.updated_at
      WHERE c.used + 1 <= k_cap
    RETURNING c.used
  ), ke AS (
    INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id, used_after, limit_value, created_at)
    SELECT tid, d->'ids'->>'keyEvent', key_meter, 1, st.ps, false, NULL, d->'actor'->>'type', d->'actor'->>'id', kc.used, k_cap, now_ts FROM kc
  ), a AS (
    UPDATE credit_accounts SET reserved = reserved + v_cost, updated_at = now_ts WHERE tenant_id = tid RETURNING balance, reserved
  ), r AS (
    INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, model, amount, status, charged, refunded, expires_at, created_at)
    VALUES (tid, v_res->>'id', v_res->>'key', v_res->>'hash', v_res->>'operation', v_res->>'model', v_cost, 'held', 0, 0, (v_res->>'expiresAt')::timestamptz, now_ts)
  ), le AS (
    INSERT INTO credit_ledger (tenant_id, id, kind, amount, hold, balance_after, reserved_after, reservation_id, idempotency_key, request_hash,
                               reason, actor_type, actor_id, created_at)
    SELECT tid, d->'ids'->>'ledger', 'reserve', 0, v_cost, a.balance, a.reserved, v_res->>'id', 'reserve:' || (v_res->>'key'), v_res->>'hash',
           v_res->>'operation', d->'actor'->>'type', d->'actor'->>'id', now_ts FROM a
  ), lu AS (
    UPDATE run_leases SET leases = coalesce((SELECT jsonb_object_agg(key, value) FROM jsonb_each_text(l_leases) WHERE value::timestamptz > now_ts), '{}'::jsonb)
                                   || jsonb_build_object(lease_id, v_res->>'expiresAt'),
                          updated_at = now_ts
      WHERE tenant_id = tid AND runs_cap IS NOT NULL AND l_found
  ), li AS (
    INSERT INTO run_leases (tenant_id, leases, updated_at)
    SELECT tid, jsonb_build_object(lease_id, v_res->>'expiresAt'), now_ts WHERE runs_cap IS NOT NULL AND NOT l_found
    ON CONFLICT (tenant_id) DO NOTHING
    RETURNING 1 AS n
  )
  SELECT (SELECT used FROM mc) AS m_after, (SELECT used FROM kc) AS k_after, (SELECT count(*) FROM li) AS leases_added,
         a.balance, a.reserved INTO done FROM a;
  IF (v_meter IS NOT NULL AND done.m_after IS DISTINCT FROM m_used + 1)
     OR (key_meter IS NOT NULL AND done.k_after IS DISTINCT FROM k_used + 1)
     OR (runs_cap IS NOT NULL AND NOT l_found AND done.leases_added <> 1) THEN
    RAISE EXCEPTION 'a counter moved under the batch' USING ERRCODE = '40001';
  END IF;
  RETURN jsonb_build_object('grantedPeriod', tollgate_iso(st.ps)) || tollgate_decided(d, jsonb_build_object('allowed', true, 'code', 'OK', 'decisionId', d->>'decisionId', 'tenant', tenant_v,
    'principal', v_principal, 'operation', d->'operation', 'limits', v_limits,
    'credits', jsonb_build_object('balance', done.balance, 'reserved', done.reserved, 'available', done.balance - done.reserved),
    'reservation', jsonb_build_object('id', v_res->>'id', 'credits', v_cost, 'expiresAt', v_res->>'expiresAt'),
    'bypass', CASE WHEN v_bypass THEN jsonb_build_object('reason', st.m_role, 'meter', v_meter) END,
    'route', jsonb_build_object('provider', 'default')), now_ts);
END $fn$;

-- A decision made: stored for its idempotency key (allowed or refused), then answered.
CREATE FUNCTION tollgate_decided(d jsonb, answer jsonb, now_ts timestamptz) RETURNS jsonb LANGUAGE plpgsql AS $fn$
BEGIN
  IF d->>'idempotencyKey' IS NOT NULL THEN
    INSERT INTO decision_replays (tenant_id, idempotency_key, request_hash, decision, created_at)
    VALUES (d->>'tenantId', d->>'idempotencyKey', d->>'hash', answer, now_ts) ON CONFLICT DO NOTHING;
  END IF;
  RETURN jsonb_build_object('decision', answer);
END $fn$;

-- The batch: one answer per request, in the order given.
CREATE FUNCTION tollgate_decide(batch jsonb, ctx jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  d jsonb;
  scoped text;
BEGIN
  FOR d IN SELECT value FROM jsonb_array_elements(batch) LOOP
    IF scoped IS DISTINCT FROM d->>'tenantId' THEN
      scoped := d->>'tenantId';
      PERFORM set_config('app.tenant_id', scoped, true);
    END IF;
    RETURN NEXT tollgate_decide_one(d, ctx);
  END LOOP;
END $fn$;
