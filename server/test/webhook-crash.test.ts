import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DEFAULT_CONFIG_PATH } from '../src/config.js';
import { systemClock } from '../src/lib/clock.js';
import { createTestDatabase, type TestDatabase } from './harness.js';
import { PROCESS_TEST_TIMEOUT_MS, startServerProcess, type ServerProcess } from './server-process.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';
import { WebhookReceiver } from './webhook-receiver.js';

/**
 * The outbox across a crash, with real server processes: an event committed by a server
 * that is killed (kill -9) before its dispatcher ran is delivered by the next server on
 * the same database (PGlite data directory or PostgreSQL), signed as ever.
 */
const OPERATOR = { email: 'webhook-crash-ops@example.com', password: 'webhook-crash-password' };
let receiver: WebhookReceiver | undefined;
let db: TestDatabase | undefined;
const servers: ServerProcess[] = [];

afterAll(async () => {
  for (const s of servers) await s.close();
  await receiver?.close();
  await db?.drop();
  removeTempDirs();
});

function configWith(dispatchIntervalMs: number): string {
  const file = parseYaml(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as Record<string, unknown>;
  file.webhooks = { allowedTargets: ['127.0.0.1'], dispatchIntervalMs };
  const path = join(tempDir('webhook-config'), 'tollgate.config.yaml');
  writeFileSync(path, stringifyYaml(file));
  return path;
}

async function call(server: ServerProcess, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) as Record<string, unknown> : {} };
}

describe('webhooks across a crash', () => {
  it('an event committed by a server killed before dispatching is delivered by the next server', async () => {
    receiver = new WebhookReceiver(systemClock);
    const url = await receiver.start();
    db = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    const dataDir = tempDir('webhook-crash-data');
    const env = (dispatchIntervalMs: number) => ({
      TOLLGATE_CONFIG: configWith(dispatchIntervalMs), TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: OPERATOR.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR.password,
    });
    // The first server would dispatch only after a minute: it is killed long before.
    const first = await startServerProcess(db?.url, env(60_000));
    servers.push(first);
    const signup = await call(first, 'POST', '/v1/signup', null, { email: 'crash-owner@example.com', password: 'crash-owner-password' });
    expect(signup.status).toBe(201);
    const token = signup.json.accessToken as string;
    const tenantId = (signup.json.tenant as { id: string }).id;
    const endpoint = await call(first, 'POST', `/v1/tenants/${tenantId}/webhooks`, token, { url, events: ['api_key.revoked'] });
    expect(endpoint.status).toBe(201);
    receiver.secret = endpoint.json.secret as string;
    const key = await call(first, 'POST', `/v1/tenants/${tenantId}/api-keys`, token, { name: 'doomed' });
    expect((await call(first, 'DELETE', `/v1/tenants/${tenantId}/api-keys/${key.json.id as string}`, token)).status).toBe(204);
    await first.kill('SIGKILL');
    expect(receiver.received).toEqual([]);

    const second = await startServerProcess(db?.url, env(100));
    servers.push(second);
    const deadline = Date.now() + 60_000;
    while (receiver.received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]).toMatchObject({ verified: true, body: { type: 'api_key.revoked', data: { tenantId, apiKey: { id: key.json.id } } } });
  }, PROCESS_TEST_TIMEOUT_MS);
});
