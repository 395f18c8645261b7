import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/harness.js';
import { REQUEST_FIELDS, requestsLiteral, type DecideEntry } from './statement.js';

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
  ps: '2026-12-01T00:00:00.000Z', pe: '2027-01-01T00:00:00.000Z', role: null, res_id: 'res_1', res_key: 'authorize:dec_1', res_hash: 'ab',
  op: 'content', model: null, expires: '2026-12-05T01:02:03.456Z', event_id: 'evt_1', key_event_id: null, audit_id: null,
  actor_type: 'api_key', actor_id: 'key_1', request_id: null, route: null, clow: null, dec_id: 'dec_1',
  ptype: 'api_key', pid: 'key_1', puid: null, module: 'writer', ...over,
});

describe('the batch as tollgate_request[]', () => {
  it('names the type\'s fields in the type\'s order', async () => {
    const rows = await db.asOwner<{ attname: string }>(
      "SELECT attname FROM pg_attribute WHERE attrelid = 'tollgate_request'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum");
    expect(rows.map((r) => r.attname)).toEqual(['ord', ...REQUEST_FIELDS]);
  });

  it('is read back field for field, whatever the strings hold', async () => {
    const hostile = ['a,b', '(x)', '"quoted"', 'back\\slash', ' spaced ', '', 'NULL', 'line\nbreak', '{braces}', 'ünï©ødé ✓', '\\"),("'];
    const entries = hostile.map((text, i) => entry({
      idem: text, hash: `h${i}`, model: text, request_id: text, pid: text, module: i % 2 === 0 ? text : null, role: i % 2 === 0 ? 'owner' : null, uid: i % 3 === 0 ? text : null, ugen: i,
      may_bypass: i % 2 === 1, kcap: i === 0 ? null : 9_007_199_254_740_991, tgen: i,
      shape: { decisionId: `dec_${i}`, note: text } as unknown as DecideEntry['shape'],
      pre: i === 4 ? { kind: 'refused', code: 'MODULE_DISABLED', refusedBy: { check: 'module', module: text } } : null,
      route: { name: text, provider: 'openai', billing: 'platform' } as unknown as DecideEntry['route'],
    }));
    const rows = await db.asOwner<{ r: string }>('SELECT to_jsonb(r)::text AS r FROM unnest($1::tollgate_request[]) r', [requestsLiteral(entries)]);
    const instant = (iso: string | null) => (iso === null ? null : new Date(iso).getTime());
    expect(rows).toHaveLength(entries.length);
    rows.forEach((row, i) => {
      const got = JSON.parse(row.r) as Record<string, unknown>;
      const want = entries[i]!;
      expect(got.ord).toBe(i + 1);
      for (const field of REQUEST_FIELDS) {
        if (field === 'ps' || field === 'pe' || field === 'expires') expect(instant(got[field] as string | null), field).toBe(instant(want[field]));
        else expect(got[field], field).toEqual(want[field]);
      }
    });
  });
});
