import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../db/array-literal.js';
import { createTestDatabase, type TestDatabase } from '../../../test/harness.js';
import { batchRoutes, consumedRows, decide, DECIDE_STATEMENT, REQUEST_FIELDS, requestsLiteral, statementParams, type DecideEntry } from './statement.js';

// The batch goes to the statement as one tollgate_request[] literal: a field out of its
// place, or a value the literal's syntax misreads (a comma in a model's name, a quote in
// an idempotency key), would hand the statement another request than the one decided.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const entry = (over: Partial<DecideEntry>): DecideEntry => ({
  tid: 'ten_a', tgen: 3, uid: null, ugen: null, skid: null, skgen: null, idem: null, hash: null, shape: null, pre: null,
  meter: 'runs', mlimit: 10, may_bypass: false, kmeter: null, kcap: null, runs: null, cost: 2,
  ps: '2026-12-01T00:00:00.000Z', pe: '2027-01-01T00:00:00.000Z', role: null, res_id: 'res_1', res_key: 'authorize:dec_1',
  op: 'content', model: null, expires: '2026-12-05T01:02:03.456Z', key_event_id: null, audit_id: null,
  actor_type: 'api_key', actor_id: 'key_1', request_id: null, route: null, clow: null, dec_id: 'dec_1',
  ptype: 'api_key', pid: 'key_1', puid: null, module: 'writer', ...over,
});

describe('the batch as tollgate_request[]', () => {
  it('names the type\'s fields in the type\'s order', async () => {
    const rows = await db.asOwner<{ attname: string }>(
      "SELECT attname FROM pg_attribute WHERE attrelid = 'tollgate_request'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum");
    expect(rows.map((r) => r.attname)).toEqual(['ord', ...REQUEST_FIELDS, 'ri']);
  });

  it('is read back field for field, whatever the strings hold', async () => {
    const hostile = ['a,b', '(x)', '"quoted"', 'back\\slash', ' spaced ', '', 'NULL', 'line\nbreak', '{braces}', 'ünï©ødé ✓', '\\"),("'];
    const entries = hostile.map((text, i) => entry({
      idem: text, hash: `h${i}`, model: text, request_id: text, pid: text, module: i % 2 === 0 ? text : null, role: i % 2 === 0 ? 'owner' : null, uid: i % 3 === 0 ? text : null, ugen: i,
      may_bypass: i % 2 === 1, kcap: i === 0 ? null : 9_007_199_254_740_991, tgen: i,
      shape: { decisionId: `dec_${i}`, note: text } as unknown as DecideEntry['shape'],
      pre: i === 4 ? { kind: 'refused', code: 'MODULE_DISABLED', refusedBy: { check: 'module', module: text } } : null,
      route: i === 3 ? null : { name: i === 5 ? 'same' : text, provider: 'openai', billing: 'platform' } as unknown as DecideEntry['route'],
    }));
    const { routes, ri } = batchRoutes(entries);
    const rows = await db.asOwner<{ r: string }>(`SELECT jsonb_set(to_jsonb(r), '{route}', coalesce(($2::jsonb[])[r.ri], 'null'))::text AS r
      FROM unnest($1::tollgate_request[]) r`, [requestsLiteral(entries, ri), arrayLiteral(routes)]);
    const instant = (iso: string | null) => (iso === null ? null : new Date(iso).getTime());
    expect(rows).toHaveLength(entries.length);
    rows.forEach((row, i) => {
      const got = JSON.parse(row.r) as Record<string, unknown>;
      const want = entries[i]!;
      expect(got.ord).toBe(i + 1);
      for (const field of REQUEST_FIELDS) {
        if (field === 'expires') expect(instant(got[field] as string | null), field).toBe(instant(want[field]));
        else expect(got[field], field).toEqual(want[field]);
      }
      expect(got.route, 'route').toEqual(want.route);
    });
  });
});

describe('the batch\'s routes', () => {
  it('are each sent once, and each request names its own', () => {
    const a = { name: 'a', provider: 'openai', billing: 'platform', region: null } as unknown as DecideEntry['route'];
    const b = { name: 'b', provider: 'anthropic', billing: 'tenant', region: 'eu' } as unknown as DecideEntry['route'];
    const { routes, ri } = batchRoutes([entry({ route: a }), entry({ route: null }), entry({ route: b }), entry({ route: { ...a! } })]);
    expect(routes.map((r) => JSON.parse(r) as unknown)).toEqual([a, b]);
    expect(ri).toEqual([1, null, 2, 1]);
  });
});

describe('the rows a batch consumes', () => {
  it('names each counter and tenant once, and each request\'s own among them', () => {
    const rows = consumedRows([
      entry({ tid: 'ten_a', meter: 'runs', kmeter: 'key:k1' }),
      entry({ tid: 'ten_a', meter: 'runs', kmeter: 'key:k2' }),
      entry({ tid: 'ten_b', meter: 'runs', kmeter: null }),
      entry({ tid: 'ten_a', meter: 'runs', kmeter: 'key:k1' }),
      entry({ tid: 'ten_b', meter: null, pre: { kind: 'refused', code: 'MODULE_DISABLED', refusedBy: { check: 'module', module: 'x' } } }),
      // A new period begun between two calls of one batch: another counter.
      entry({ tid: 'ten_b', meter: 'runs', ps: '2027-01-01T00:00:00.000Z', pe: '2027-02-01T00:00:00.000Z' }),
    ]);
    expect(rows.tenants).toEqual(['ten_a', 'ten_b']);
    expect(rows.ti).toEqual([1, 1, 2, 1, 2, 2]);
    expect(rows.counters.tid).toEqual(['ten_a', 'ten_a', 'ten_a', 'ten_b', 'ten_b']);
    expect(rows.counters.meter).toEqual(['runs', 'key:k1', 'key:k2', 'runs', 'runs']);
    expect(rows.counters.ps).toEqual(['2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(rows.counters.pe.at(-1)).toBe('2027-02-01T00:00:00.000Z');
    expect(rows.mi).toEqual([1, 1, 4, 1, null, 5]);
    expect(rows.ki).toEqual([2, 3, null, 2, null, null]);
  });

  // The statement counts each row's consumption in one place: a row named twice would be
  // counted in two and written once, so admitting more than it holds. A batch built
  // wrongly must be refused whole, never decided.
  describe('a batch that names a row twice is refused, and writes nothing', () => {
    const ps = '2026-12-01T00:00:00.000Z';
    const at = new Date('2026-12-05T10:00:00.000Z');
    beforeAll(async () => {
      await db.asOwner("INSERT INTO tenants (id, name, kind) VALUES ('tnt_twice', 'twice', 'team')");
      await db.asOwner("INSERT INTO credit_accounts (tenant_id, balance, reserved) VALUES ('tnt_twice', 1000, 0)");
      await db.asOwner(`INSERT INTO usage_counters (tenant_id, meter, period_start, period_end, used, updated_at) VALUES ('tnt_twice', 'runs', '${ps}', '2027-01-01T00:00:00.000Z', 5, now())`);
    });
    const twins = async (mlimit = 6, tid = 'tnt_twice') => {
      const [{ generation }] = await db.asOwner<{ generation: number }>('SELECT generation FROM tenants WHERE id = $1', [tid]) as [{ generation: number }];
      return [1, 2].map((i) => entry({ tid, tgen: Number(generation), ps, mlimit, res_id: `res_twice${i}`, dec_id: `dec_twice${i}`}));
    };
    const written = async () => db.asOwner<{ used: number; reserved: number; holds: number }>(`
      SELECT (SELECT used FROM usage_counters WHERE tenant_id = 'tnt_twice')::int AS used, (SELECT reserved FROM credit_accounts WHERE tenant_id = 'tnt_twice')::int AS reserved,
             (SELECT count(*) FROM credit_reservations WHERE tenant_id = 'tnt_twice')::int AS holds`);

    it('a counter named twice', async () => {
      const entries = await twins();
      const params = statementParams(entries, at);
      // Built right, the second request finds the meter full (used 5, limit 6).
      expect(consumedRows(entries).mi).toEqual([1, 1]);
      // Named twice (two places for the one counter), each request would see it at 5.
      params[6] = '{1,2}'; params[9] = '{tnt_twice,tnt_twice}'; params[10] = '{runs,runs}'; params[11] = `{"${ps}","${ps}"}`; params[12] = '{NULL,NULL}';
      await expect(db.database.statement(DECIDE_STATEMENT, params))
        .rejects.toThrow(/named a counter twice/);
      expect(await written()).toEqual([{ used: 5, reserved: 0, holds: 0 }]);
    });

    // A counter or slot count that does not exist yet is inserted, not updated: one named
    // twice is inserted once, and that must read as the fault it is (XX000), not as a row
    // another transaction created under the batch (40001, which is retried as a conflict).
    it('a counter named twice before its row exists', async () => {
      const next = { ps: '2027-03-01T00:00:00.000Z', pe: '2027-04-01T00:00:00.000Z' };
      const entries = (await twins(100)).map((e) => ({ ...e, ...next }));
      const params = statementParams(entries, at);
      params[6] = '{1,2}'; params[9] = '{tnt_twice,tnt_twice}'; params[10] = '{runs,runs}'; params[11] = `{"${next.ps}","${next.ps}"}`; params[12] = `{"${next.pe}","${next.pe}"}`;
      await expect(db.database.statement(DECIDE_STATEMENT, params)).rejects.toMatchObject({ code: 'XX000', message: expect.stringMatching(/named a counter twice/) });
      expect(await db.asOwner("SELECT count(*)::int AS n FROM usage_counters WHERE tenant_id = 'tnt_twice' AND period_start = '2027-03-01T00:00:00.000Z'")).toEqual([{ n: 0 }]);
      expect(await written()).toEqual([{ used: 5, reserved: 0, holds: 0 }]);
    });

    it('a tenant named twice before its slot count row exists (no meter, no cost)', async () => {
      await db.asOwner("INSERT INTO tenants (id, name, kind) VALUES ('tnt_twice2', 'twice', 'team')");
      await db.asOwner("INSERT INTO credit_accounts (tenant_id, balance, reserved) VALUES ('tnt_twice2', 1000, 0)");
      const entries = (await twins(6, 'tnt_twice2')).map((e) => ({ ...e, meter: null, mlimit: null, cost: 0, runs: 5 }));
      const params = statementParams(entries, at);
      params[8] = '{1,2}'; params[13] = '{tnt_twice2,tnt_twice2}';
      await expect(db.database.statement(DECIDE_STATEMENT, params)).rejects.toMatchObject({ code: 'XX000', message: expect.stringMatching(/named a tenant twice/) });
      expect(await db.asOwner("SELECT (SELECT count(*)::int FROM run_leases WHERE tenant_id = 'tnt_twice2') AS leases, (SELECT count(*)::int FROM run_slots WHERE tenant_id = 'tnt_twice2') AS slots"))
        .toEqual([{ leases: 0, slots: 0 }]);
    });

    it('a tenant named twice', async () => {
      // Both admitted (the meter has room), each seeing the account as it was.
      const entries = await twins(100);
      const params = statementParams(entries, at);
      params[8] = '{1,2}'; params[13] = '{tnt_twice,tnt_twice}';
      await expect(db.database.statement(DECIDE_STATEMENT, params))
        .rejects.toThrow(/named a tenant twice/);
      expect(await written()).toEqual([{ used: 5, reserved: 0, holds: 0 }]);
    });

    it('a tenant named twice, on its run slots alone (no meter, no cost)', async () => {
      await db.asOwner("INSERT INTO run_leases (tenant_id, held, updated_at) VALUES ('tnt_twice', 0, now()) ON CONFLICT DO NOTHING");
      const entries = (await twins()).map((e) => ({ ...e, meter: null, mlimit: null, cost: 0, runs: 5 }));
      const params = statementParams(entries, at);
      params[8] = '{1,2}'; params[13] = '{tnt_twice,tnt_twice}';
      await expect(db.database.statement(DECIDE_STATEMENT, params)).rejects.toThrow(/named a tenant twice/);
      expect(await db.asOwner("SELECT held::int, (SELECT count(*)::int FROM run_slots WHERE tenant_id = 'tnt_twice') AS slots FROM run_leases WHERE tenant_id = 'tnt_twice'"))
        .toEqual([{ held: 0, slots: 0 }]);
      expect(await written()).toEqual([{ used: 5, reserved: 0, holds: 0 }]);
    });

    it('built right, the same batch admits one and finds the meter full for the other', async () => {
      const answers = await decide(db.database, await twins(), at);
      expect(answers.map((a) => (a.verdict === 'admit' ? a.outcome.fail : a.verdict))).toEqual([0, 1]);
      expect(await written()).toEqual([{ used: 6, reserved: 2, holds: 1 }]);
    });

    it('a batch across a period\'s end counts each call on its own period\'s counter', async () => {
      const next = { ps: '2027-01-01T00:00:00.000Z', pe: '2027-02-01T00:00:00.000Z' };
      const [now, later] = (await twins(100)).map((e) => ({ ...e, res_id: `${e.res_id}p`, dec_id: `${e.dec_id}p` }));
      const answers = await decide(db.database, [now!, { ...later!, ...next }], at);
      expect(answers.map((a) => (a.verdict === 'admit' ? [a.outcome.fail, a.outcome.meterUsed] : a.verdict))).toEqual([[0, 7], [0, 1]]);
      expect(await db.asOwner("SELECT to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM') AS p, used::int FROM usage_counters WHERE tenant_id = 'tnt_twice' ORDER BY 1"))
        .toEqual([{ p: '2026-12', used: 7 }, { p: '2027-01', used: 1 }]);
    });
  });
});

