import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/harness.js';
import { arrayLiteral, compositeArrayLiteral } from './array-literal.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

/** The literal as the database reads it, back as JSON (the same in either driver). */
const read = async (literal: string, type: string): Promise<unknown> => {
  const [row] = await db.asOwner<{ v: string }>(`SELECT to_json($1::${type}[])::text AS v`, [literal]);
  return JSON.parse(row!.v) as unknown;
};

describe('arrayLiteral', () => {
  it('is read back as the same strings, whatever they hold', async () => {
    const strings = ['plain', '', ' spaced ', 'NULL', 'null', '"quoted"', 'back\\slash', '\\"both"\\', '{braces}', 'a,b', 'line\nbreak', 'tab\there', 'ünï©ødé ✓', "it's"];
    expect(await read(arrayLiteral([...strings, null]), 'text')).toEqual([...strings, null]);
  });

  it('spells numbers, booleans, instants and JSON values as PostgreSQL reads them', async () => {
    expect(await read(arrayLiteral([0, -7, 9007199254740991, 12n, null]), 'bigint')).toEqual([0, -7, 9007199254740991, 12, null]);
    expect(await read(arrayLiteral([true, false, undefined]), 'boolean')).toEqual([true, false, null]);
    const at = new Date('2026-12-05T04:05:06.789Z');
    const [instant] = await db.asOwner<{ v: string }>("SELECT to_char(($1::timestamptz[])[1] AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS v", [arrayLiteral([at])]);
    expect(instant!.v).toBe(at.toISOString());
    const values = [{ reason: 'owner "bypass"', meter: 'runs\\x', nested: { n: 1, list: [1, 'two', null] } }, null];
    expect(await read(arrayLiteral(values), 'jsonb')).toEqual(values);
  });

  it('an empty list is an empty array', async () => {
    expect(await read(arrayLiteral([]), 'text')).toEqual([]);
  });
});

describe('compositeArrayLiteral', () => {
  it('is read back as the same rows: empty strings, NULLs and the row syntax\'s own characters kept apart', async () => {
    await db.asOwner('CREATE TYPE literal_row AS (n bigint, s text, b boolean, j jsonb, t timestamptz)');
    const at = new Date('2026-12-05T04:05:06.789Z');
    const strings = ['plain', '', ' spaced ', 'NULL', '(paren', 'a,b', '"quoted"', 'back\\slash', '\\",(")', 'line\nbreak', '{braces}', 'ünï©ødé ✓'];
    const rows: unknown[][] = strings.map((s, i) => [i, s, i % 2 === 0, { s, list: [i, null] }, at]);
    rows.push([null, null, null, null, null]);
    const [read] = await db.asOwner<{ v: string }>(
      "SELECT json_agg(json_build_object('n', r.n, 's', r.s, 'b', r.b, 'j', r.j, 't', tollgate_iso(r.t)))::text AS v FROM unnest($1::literal_row[]) r",
      [compositeArrayLiteral(rows)]);
    expect(JSON.parse(read!.v)).toEqual(rows.map(([n, s, b, j, t]) => ({ n, s, b, j, t: t === null ? null : (t as Date).toISOString() })));
  });

  it('spells a JSON value alike every time: repeated (kept spelled), past the bound on those kept, and too long to keep', async () => {
    const route = { provider: 'a "quoted" \\ provider', name: 'x,(y)', region: null };
    const long = { text: '"'.repeat(300) };
    // More distinct values than are kept, around the same route spelled again and again.
    const rows: unknown[][] = Array.from({ length: 600 }, (_, i) => [i, null, null, i % 3 === 0 ? route : i % 3 === 1 ? { i, q: '"' } : long, null]);
    for (let round = 0; round < 2; round++) {
      const [read] = await db.asOwner<{ v: string }>('SELECT json_agg(r.j ORDER BY r.n)::text AS v FROM unnest($1::literal_row[]) r', [compositeArrayLiteral(rows)]);
      expect(JSON.parse(read!.v)).toEqual(rows.map((r) => r[3]));
    }
  });

  it('an empty list is an empty array', async () => {
    const [row] = await db.asOwner<{ n: number }>('SELECT cardinality($1::tollgate_request[]) AS n', [compositeArrayLiteral([])]);
    expect(row!.n).toBe(0);
  });
});
