/**
 * The metering invariants of PRODUCT.md, checked with SQL over whatever a run left in the
 * database (read as a role that sees every tenant). One place, so that a suite that
 * stresses the storage (the crash suite; the decision's later storage) proves the same
 * things: each returns the violations it found, described, so a failure says what broke.
 */
export type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

/** Every invariant over the tenants given: [] when all hold. */
export async function meteringViolations(query: Query, tenantIds: string[]): Promise<string[]> {
  return [
    ...await accountViolations(query, tenantIds),
    ...await reservationViolations(query, tenantIds),
    ...await counterViolations(query, tenantIds),
    ...await leaseViolations(query, tenantIds),
  ];
}

/**
 * balance = Σ ledger amounts, reserved = Σ the held reservations' amounts, and nothing
 * negative (available = balance − reserved ≥ 0).
 */
export async function accountViolations(query: Query, tenantIds: string[]): Promise<string[]> {
  const rows = await query<{ tenant_id: string; balance: string; reserved: string; sum_amount: string | null; sum_held: string | null }>(`
    SELECT a.tenant_id, a.balance, a.reserved,
           (SELECT sum(l.amount) FROM credit_ledger l WHERE l.tenant_id = a.tenant_id) AS sum_amount,
           (SELECT sum(r.amount) FROM credit_reservations r WHERE r.tenant_id = a.tenant_id AND r.status = 'held') AS sum_held
      FROM credit_accounts a
     WHERE a.tenant_id = ANY($1)`, [tenantIds]);
  const found = new Set(rows.map((r) => r.tenant_id));
  return [
    ...tenantIds.filter((id) => !found.has(id)).map((id) => `${id}: no credit account`),
    ...rows.flatMap((a) => {
      const [balance, reserved, amount, held] = [a.balance, a.reserved, a.sum_amount ?? 0, a.sum_held ?? 0].map(Number) as [number, number, number, number];
      const out: string[] = [];
      if (balance !== amount) out.push(`${a.tenant_id}: balance ${balance} but the ledger sums to ${amount}`);
      if (reserved !== held) out.push(`${a.tenant_id}: reserved ${reserved} but its held reservations sum to ${held}`);
      if (balance < 0 || reserved < 0 || balance - reserved < 0) out.push(`${a.tenant_id}: negative (balance ${balance}, reserved ${reserved})`);
      return out;
    }),
  ];
}

/**
 * A hold is not ledgered; a reservation is resolved at most once: a settled one has one
 * settle entry charging what it says, any other none, and each resolved one has one usage
 * record (written in the resolving transaction, unique per reservation) with its status.
 */
export async function reservationViolations(query: Query, tenantIds: string[]): Promise<string[]> {
  const rows = await query<{ tenant_id: string; id: string; status: string; charged: string; entries: string[] | null; charged_by_ledger: string | null; records: string[] | null }>(`
    SELECT r.tenant_id, r.id, r.status, r.charged,
           (SELECT array_agg(l.kind ORDER BY l.created_at, l.id) FROM credit_ledger l
             WHERE l.tenant_id = r.tenant_id AND l.reservation_id = r.id AND l.kind <> 'refund') AS entries,
           (SELECT -sum(l.amount) FROM credit_ledger l WHERE l.tenant_id = r.tenant_id AND l.reservation_id = r.id AND l.kind = 'settle') AS charged_by_ledger,
           (SELECT array_agg(u.outcome) FROM usage_records u WHERE u.tenant_id = r.tenant_id AND u.reservation_id = r.id) AS records
      FROM credit_reservations r
     WHERE r.tenant_id = ANY($1)`, [tenantIds]);
  return rows.flatMap((r) => {
    const out: string[] = [];
    const entries = r.entries ?? [];
    const records = r.records ?? [];
    const expected = r.status === 'settled' ? ['settle'] : [];
    if (entries.join() !== expected.join()) out.push(`${r.id}: status ${r.status} but ledgered as [${entries.join(', ')}]`);
    if (r.status === 'settled' && Number(r.charged_by_ledger) !== Number(r.charged)) out.push(`${r.id}: charged ${r.charged} but the ledger charged ${r.charged_by_ledger}`);
    const recorded = r.status === 'held' ? [] : [r.status];
    if (records.join() !== recorded.join()) out.push(`${r.id}: status ${r.status} but its usage records say [${records.join(', ')}]`);
    return out;
  });
}

/** Each usage counter equals the admitted consumption its usage events record (usage_events' rows, and the reservations' since 0020). */
export async function counterViolations(query: Query, tenantIds: string[]): Promise<string[]> {
  const rows = await query<{ tenant_id: string; meter: string; period_start: Date; used: string | null; events: string | null }>(`
    SELECT coalesce(c.tenant_id, e.tenant_id) AS tenant_id, coalesce(c.meter, e.meter) AS meter, coalesce(c.period_start, e.period_start) AS period_start,
           c.used, e.events
      FROM (SELECT * FROM usage_counters WHERE tenant_id = ANY($1)) c
      FULL JOIN (SELECT tenant_id, meter, period_start, sum(quantity) AS events FROM (
          SELECT tenant_id, meter, period_start, quantity FROM usage_events WHERE tenant_id = ANY($1)
          UNION ALL
          SELECT tenant_id, meter, period_start, 1 FROM credit_reservations
           WHERE tenant_id = ANY($1) AND principal_type IS NOT NULL AND period_start IS NOT NULL AND meter IS NOT NULL) ev GROUP BY 1, 2, 3) e
        USING (tenant_id, meter, period_start)`, [tenantIds]);
  return rows.filter((r) => Number(r.used ?? 0) !== Number(r.events ?? 0))
    .map((r) => `${r.tenant_id}: ${r.meter} from ${new Date(r.period_start).toISOString()} counts ${r.used ?? 0} but its events sum to ${r.events ?? 0}`);
}

/**
 * A tenant's live concurrent-run slots are exactly its held, unexpired reservations, each
 * until the reservation's expiry; and its count of held slots is the number of its slot rows.
 */
export async function leaseViolations(query: Query, tenantIds: string[]): Promise<string[]> {
  const rows = await query<{ tenant_id: string; reservation: string | null; lease: string | null; reservation_expires: Date | null; lease_expires: Date | null }>(`
    WITH live_leases AS (
      SELECT s.tenant_id, s.id, s.expires_at AS expires FROM run_slots s WHERE s.tenant_id = ANY($1) AND s.expires_at > now()
    ), held AS (
      SELECT r.tenant_id, r.id, r.expires_at FROM credit_reservations r
       WHERE r.tenant_id = ANY($1) AND r.status = 'held' AND r.expires_at > now()
         AND EXISTS (SELECT 1 FROM run_leases rl WHERE rl.tenant_id = r.tenant_id)
    )
    SELECT coalesce(h.tenant_id, l.tenant_id) AS tenant_id, h.id AS reservation, l.id AS lease, h.expires_at AS reservation_expires, l.expires AS lease_expires
      FROM held h FULL JOIN live_leases l ON l.tenant_id = h.tenant_id AND l.id = h.id
     WHERE h.id IS NULL OR l.id IS NULL OR l.expires <> h.expires_at`, [tenantIds]);
  const counts = await query<{ tenant_id: string; held: string; slots: string }>(`
    SELECT rl.tenant_id, rl.held, (SELECT count(*) FROM run_slots s WHERE s.tenant_id = rl.tenant_id) AS slots
      FROM run_leases rl WHERE rl.tenant_id = ANY($1)`, [tenantIds]);
  return [
    ...rows.map((r) => !r.lease ? `${r.tenant_id}: reservation ${r.reservation} is held but holds no run lease`
      : !r.reservation ? `${r.tenant_id}: run lease ${r.lease} belongs to no held reservation`
        : `${r.tenant_id}: run lease ${r.lease} ends ${new Date(r.lease_expires!).toISOString()}, its reservation ${new Date(r.reservation_expires!).toISOString()}`),
    ...counts.filter((c) => Number(c.held) !== Number(c.slots)).map((c) => `${c.tenant_id}: counts ${c.held} held run slots but has ${c.slots}`),
  ];
}
