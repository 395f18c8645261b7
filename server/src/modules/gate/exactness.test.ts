import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { buildApp } from '../../app.js';
import { DEFAULT_CONFIG_PATH } from '../../config.js';
import { createDeps } from '../../deps.js';
import { onPostgres, startTestApp, testConfig, type TestApp } from '../../../test/harness.js';
import { startServerProcess } from '../../../test/server-process.js';
import { removeTempDirs, tempDir } from '../../../test/temp-dirs.js';

/**
 * Exactness under load, over real HTTP: many concurrent decisions for one tenant admit
 * exactly what fits (the runs left, the credits left, costs mixed), also when two server instances (two pools, two caches) share the
 * database, and the counters and the ledger agree afterwards.
 */
const TOTAL = onPostgres ? 2000 : 300;
const RUNS = onPostgres ? 100 : 30;
const CREDITS = 1000;
const OPERATIONS = ['clustering', 'image_generation', 'image_prompt_extraction'] as const; // 10, 5 and 2 credits
const COSTLIER = ['idea_generation', 'clustering', 'image_generation'] as const; // 15, 10 and 5 credits
/** Credits for about 80 % of the runs at the costlier operations' 10 a call: the credits run out first. */
const TIGHT_CREDITS = RUNS * 8;

let t: TestApp;
const servers: { url: string; close: () => Promise<void> }[] = [];

/** The shipped config with the rate limits out of the way: this test counts admissions, not throttling. */
function unthrottledConfig(): string {
  const file = parseYaml(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as { rateLimits: { scopes: Record<string, { limit: number }> } };
  for (const scope of Object.values(file.rateLimits.scopes)) scope.limit = 1_000_000_000;
  const path = join(tempDir('config'), 'tollgate.config.yaml');
  writeFileSync(path, stringifyYaml(file));
  return path;
}

beforeAll(async () => {
  t = await startTestApp({ poolSize: 20 });
  for (let i = 0; i < 2; i++) {
    const deps = await createDeps(testConfig(), { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }), rateLimitPrefix: `exact-${i}-${Date.now()}` });
    const app = await buildApp(deps);
    // 2,000 connections arrive at once: a backlog above Node's default 511 keeps the kernel from resetting them.
    await app.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
    servers.push({ url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: async () => { await app.close(); await deps.close(); } });
  }
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await t.close();
  removeTempDirs();
});

async function loadedTenant(credits: number): Promise<{ tenantId: string; key: string }> {
  const owner = await t.signup();
  const op = await t.operator();
  await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { limits: { runs: RUNS, concurrentRuns: 1_000_000 } } });
  await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/credits`, token: op.accessToken, payload: { amount: credits - 100, reason: 'load test', idempotencyKey: `load-${owner.tenantId}` } });
  const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'load', scopes: ['authorize', 'read'] } })).json().key as string;
  return { tenantId: owner.tenantId, key };
}

type Answer = { status: number; body: { allowed: boolean; code: string; operation: { credits: number } } };

/** `TOTAL` concurrent calls for one key, spread over the servers, cycling through the operations. */
function fire(targets: { url: string }[], key: string, operations: readonly string[]): Promise<Answer[]> {
  return Promise.all(Array.from({ length: TOTAL }, (_, i) => {
    const server = targets[i % targets.length]!;
    return fetch(`${server.url}/v1/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ operation: operations[i % operations.length] }),
    }).then(async (res) => ({ status: res.status, body: await res.json() as Answer['body'] }));
  }));
}

/** The runs counter, the account, the ledger and the held reservations all tell the same story as the answers. */
async function storesAgree(tenantId: string, credits: number, admitted: number, charged: number): Promise<void> {
  const [counter] = await t.db.asOwner<{ used: string }>("SELECT used FROM usage_counters WHERE tenant_id = $1 AND meter = 'runs'", [tenantId]);
  expect(Number(counter!.used)).toBe(admitted);
  const [account] = await t.db.asOwner<{ balance: string; reserved: string }>('SELECT balance, reserved FROM credit_accounts WHERE tenant_id = $1', [tenantId]);
  const [ledger] = await t.db.asOwner<{ amount: string; entries: string }>(
    "SELECT sum(amount) AS amount, count(*) FILTER (WHERE reservation_id IS NOT NULL) AS entries FROM credit_ledger WHERE tenant_id = $1", [tenantId]);
  expect(Number(account!.balance)).toBe(credits);
  expect(Number(account!.reserved)).toBe(charged);
  expect(Number(ledger!.amount)).toBe(Number(account!.balance));
  // Holds are not ledgered: none of the admitted runs is settled yet, so no entry names a reservation.
  expect(Number(ledger!.entries)).toBe(0);
  const [held] = await t.db.asOwner<{ amount: string }>("SELECT coalesce(sum(amount), 0) AS amount FROM credit_reservations WHERE tenant_id = $1 AND status = 'held'", [tenantId]);
  expect(Number(held!.amount)).toBe(Number(account!.reserved));
  const [reservations] = await t.db.asOwner<{ n: string }>("SELECT count(*) AS n FROM credit_reservations WHERE tenant_id = $1 AND status = 'held'", [tenantId]);
  expect(Number(reservations!.n)).toBe(admitted);
}

describe('exactness under load', () => {
  const variants: { label: string; targets: () => Promise<{ url: string }[]>; skip?: boolean }[] = [
    { label: 'one server instance', targets: async () => [servers[0]!] },
    { label: 'two server instances in this process', targets: async () => [servers[0]!, servers[1]!] },
    {
      label: 'this process and a second real server process', skip: !onPostgres,
      targets: async () => {
        if (servers.length < 3) servers.push(await startServerProcess(t.db.url!, { TOLLGATE_DB_POOL_SIZE: '10', TOLLGATE_CONFIG: unthrottledConfig() }));
        return [servers[0]!, servers[2]!];
      },
    },
  ];
  for (const variant of variants) {
    it.skipIf(variant.skip)(`${TOTAL} concurrent decisions over HTTP through ${variant.label} admit exactly ${RUNS} runs; counters and ledger agree`, async () => {
      const { tenantId, key } = await loadedTenant(CREDITS);
      const results = await fire(await variant.targets(), key, OPERATIONS);
      expect(results.filter((r) => r.status !== 200)).toEqual([]);
      const allowed = results.filter((r) => r.body.allowed);
      const codes = new Set(results.filter((r) => !r.body.allowed).map((r) => r.body.code));
      expect(allowed).toHaveLength(RUNS);
      expect([...codes]).toEqual(['LIMIT_EXCEEDED']);
      await storesAgree(tenantId, CREDITS, RUNS, allowed.reduce((sum, r) => sum + r.body.operation.credits, 0));
    }, 240_000);

    it.skipIf(variant.skip)(`${TOTAL} concurrent decisions through ${variant.label} with credits for fewer calls than the runs: nothing over either, no refusal for credits still there at the end`, async () => {
      const { tenantId, key } = await loadedTenant(TIGHT_CREDITS);
      const results = await fire(await variant.targets(), key, COSTLIER);
      expect(results.filter((r) => r.status !== 200)).toEqual([]);
      const allowed = results.filter((r) => r.body.allowed);
      const charged = allowed.reduce((sum, r) => sum + r.body.operation.credits, 0);
      expect(allowed.length).toBeLessThanOrEqual(RUNS);
      expect(charged).toBeLessThanOrEqual(TIGHT_CREDITS);
      // A refusal is only ever for what had run out: the credits (then, at the end still,
      // fewer are left than it asked: reservations only take) or the runs (then all are used).
      const refused = results.filter((r) => !r.body.allowed);
      expect(refused.map((r) => r.body.code)).toContain('INSUFFICIENT_CREDITS');
      for (const denied of refused) {
        if (denied.body.code === 'LIMIT_EXCEEDED') expect(allowed.length).toBe(RUNS);
        else {
          expect(denied.body.code).toBe('INSUFFICIENT_CREDITS');
          expect(TIGHT_CREDITS - charged).toBeLessThan(denied.body.operation.credits);
        }
      }
      await storesAgree(tenantId, TIGHT_CREDITS, allowed.length, charged);
    }, 240_000);
  }
});
