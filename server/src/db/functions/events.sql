-- Events for outbound webhooks (modules/webhooks, docs/webhooks.md): the outbox insert and
-- the two rules that must hold exactly once under any concurrency — limit.threshold once
-- per tenant, meter, period and threshold; credits.low once per crossing below the
-- threshold — each written once, here, and called from every path that changes what they
-- watch: the decision's statement (decide.sql tollgate_admit), and the TypeScript paths
-- (limits, credits) through modules/webhooks.

-- A prefixed id like lib/ids.ts newId: ten characters of the time in milliseconds, then
-- sixteen random ones, in Crockford base32.
CREATE OR REPLACE FUNCTION tollgate_new_id(prefix text, at timestamptz) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  t    bigint := floor(extract(epoch FROM at) * 1000)::bigint;
  r    bytea := decode(md5(gen_random_uuid()::text), 'hex');
  head text := '';
  tail text := '';
  i    int;
BEGIN
  FOR i IN 1..10 LOOP
    head := substr(alphabet, (t % 32)::int + 1, 1) || head;
    t := t / 32;
  END LOOP;
  FOR i IN 0..15 LOOP
    tail := tail || substr(alphabet, (get_byte(r, i) % 32) + 1, 1);
  END LOOP;
  RETURN prefix || '_' || head || tail;
END $$;

-- The outbox insert: an event of `tid` (data gets its tenantId), in the caller's transaction.
CREATE OR REPLACE FUNCTION tollgate_publish(tid text, kind text, data jsonb, at timestamptz) RETURNS text LANGUAGE sql VOLATILE AS $$
  INSERT INTO webhook_events (tenant_id, id, type, data, created_at)
  VALUES (tid, tollgate_new_id('msg', at), kind, data || jsonb_build_object('tenantId', tid), at)
  RETURNING id
$$;

-- limit.threshold: counters that went from `k_start` to `k_used` (their limits `k_limit`)
-- and crossed 50, 80 or 100 % of the limit. Each crossing is announced by the statement that
-- records it (limit_crossings' key), so once per tenant, meter, period and threshold however
-- many decisions cross it at once, and however the limit moved within the period. A key's
-- own cap (meter key:…) is not a plan limit and announces nothing.
CREATE OR REPLACE FUNCTION tollgate_limit_crossings(k_tid text[], k_meter text[], k_ps timestamptz[], k_start bigint[], k_used bigint[],
  k_limit bigint[], at timestamptz) RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  -- The thresholds, in percent of the limit, ascending.
  thresholds constant int[] := '{50,80,100}';
  published bigint;
  crossing boolean := false;
BEGIN
  -- Most calls cross nothing (a decision's batch names a few counters, far from their
  -- thresholds): a look at each spares the statement. A crossing needs a count that rose
  -- to the lowest threshold from below the highest.
  FOR j IN 1..coalesce(array_length(k_tid, 1), 0) LOOP
    IF k_limit[j] > 0 AND k_used[j] > k_start[j] AND k_used[j] * 100 >= k_limit[j] * thresholds[1]
       AND k_start[j] * 100 < k_limit[j] * thresholds[array_length(thresholds, 1)] THEN
      crossing := true;
      EXIT;
    END IF;
  END LOOP;
  IF NOT crossing THEN RETURN; END IF;
  WITH crossed AS (
    SELECT u.tid, u.m, u.ps, th.pct, u.used, u.lim
      FROM unnest(k_tid, k_meter, k_ps, k_start, k_used, k_limit) AS u(tid, m, ps, start, used, lim)
      CROSS JOIN unnest(thresholds) AS th(pct)
     WHERE u.lim > 0 AND u.m NOT LIKE 'key:%' AND u.used > u.start
       AND u.used * 100 >= u.lim * th.pct AND u.start * 100 < u.lim * th.pct
  ), kept AS (
    INSERT INTO limit_crossings (tenant_id, meter, period_start, threshold, created_at)
    SELECT c.tid, c.m, c.ps, c.pct, at FROM crossed c ORDER BY c.tid, c.m, c.pct
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, meter, period_start, threshold
  )
  SELECT count(*) INTO published FROM (
    SELECT tollgate_publish(k.tenant_id, 'limit.threshold',
             jsonb_build_object('meter', k.meter, 'threshold', k.threshold, 'used', c.used, 'limit', c.lim,
                                'periodStart', tollgate_iso(k.period_start)), at)
      FROM kept k JOIN crossed c ON c.tid = k.tenant_id AND c.m = k.meter AND c.ps = k.period_start AND c.pct = k.threshold
     ORDER BY k.tenant_id, k.meter, k.threshold) p;
END $fn$;

-- credits.low: for each of `tids`, whether its available credits (balance - reserved) are
-- below `threshold` now; the first time that turns true an event. Re-armed only when
-- credits were added: available back at or above the threshold and a balance above the
-- lowest it has had since the alert (`low_balance`, kept while low). Holds coming and going
-- (a reservation, its release, a settlement's unused part) move the available credits
-- around the threshold without adding any; re-armed by them, a tenant hovering at the
-- threshold was told on every run. The conditional upsert is the gate: of racing callers
-- one flips the flag. Called after the accounts changed, in the same transaction (their
-- rows are locked by then).
CREATE OR REPLACE FUNCTION tollgate_credits_low(tids text[], threshold bigint, at timestamptz) RETURNS void LANGUAGE sql VOLATILE AS $$
  WITH acc AS (
    SELECT ca.tenant_id, ca.balance, ca.reserved, ca.balance - ca.reserved AS available, coalesce(al.low, false) AS low,
           coalesce(al.low_balance, ca.balance) AS low_balance
      FROM credit_accounts ca LEFT JOIN credit_alerts al ON al.tenant_id = ca.tenant_id
     WHERE threshold IS NOT NULL AND ca.tenant_id = ANY (tids)
  ), next AS (
    SELECT a.*, CASE WHEN a.low THEN NOT (a.available >= threshold AND a.balance > a.low_balance) ELSE a.available < threshold END AS now_low
      FROM acc a
  ), flipped AS (
    INSERT INTO credit_alerts AS al (tenant_id, low, low_balance, changed_at)
    SELECT n.tenant_id, n.now_low, CASE WHEN n.now_low THEN n.balance END, at FROM next n WHERE n.now_low <> n.low ORDER BY n.tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET low = EXCLUDED.low, low_balance = EXCLUDED.low_balance, changed_at = EXCLUDED.changed_at
     WHERE al.low <> EXCLUDED.low
    RETURNING al.tenant_id, al.low
  ), lowered AS (
    -- Still low and the balance fell: the mark a later re-arming has to rise above.
    UPDATE credit_alerts al SET low_balance = n.balance
      FROM next n WHERE al.tenant_id = n.tenant_id AND n.low AND n.now_low AND al.low AND n.balance < al.low_balance
  )
  SELECT tollgate_publish(f.tenant_id, 'credits.low',
           jsonb_build_object('balance', n.balance, 'reserved', n.reserved, 'available', n.available, 'threshold', threshold), at)
    FROM flipped f JOIN next n ON n.tenant_id = f.tenant_id
   WHERE f.low
   ORDER BY f.tenant_id
$$;
