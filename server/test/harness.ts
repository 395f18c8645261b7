import { randomBytes } from 'node:crypto';
import { vi } from 'vitest';
import postgres from 'postgres';
import pino, { type Logger } from 'pino';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import type { ConfigFile } from '../src/config-schema.js';
import { openDatabase, type Database } from '../src/db/client.js';
import type { PgliteClient } from '../src/db/pglite-client.js';
import { startPgliteThread } from '../src/db/pglite-remote.js';
import { createDeps, type Deps } from '../src/deps.js';
import { ManualClock } from '../src/lib/clock.js';
import { createLogger } from '../src/lib/logger.js';
import { MemoryMailer } from '../src/lib/mailer.js';

/** PostgreSQL when DATABASE_URL is set (a fresh database per suite), else in-memory PGlite. */
export const POSTGRES_URL = process.env.DATABASE_URL || undefined;
export const onPostgres = POSTGRES_URL !== undefined;
export const APP_ROLE = 'tollgate_app';
/**
 * Names the run's migrated template (test/global-setup.ts): a PostgreSQL database to copy,
 * or on PGlite the file of a dumped PGlite. Unset (the harness used without the global
 * setup), each database is created and migrated from nothing.
 */
export const TEMPLATE_ENV = 'TOLLGATE_TEST_TEMPLATE';

/**
 * A new in-memory PGlite in a thread of its own, as `tollgate serve` runs it: a copy of the
 * run's migrated template when there is one.
 */
function newPglite(): Promise<PgliteClient> {
  return startPgliteThread({ loadDataDirFile: process.env[TEMPLATE_ENV] });
}

export interface TestDatabase {
  database: Database;
  url: string | undefined;
  /** Runs SQL as the database owner, bypassing row-level security: for assertions only. */
  asOwner<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** `via` maps the database's URL to the one the app connects to (a cuttable relay); asOwner always goes direct. */
export async function createTestDatabase(options: {
  poolSize?: number | undefined; via?: ((url: string) => string) | undefined; connectTimeoutSeconds?: number | undefined;
  /** The decision statement's own connections (default 2, as `tollgate serve` opens with group commit). */
  statementConnections?: number | undefined;
} = {}): Promise<TestDatabase> {
  if (!POSTGRES_URL) {
    const pglite = await newPglite();
    const database = await openDatabase({ appRole: APP_ROLE, pglite });
    return {
      database,
      url: undefined,
      async asOwner<T>(text: string, params: unknown[] = []) {
        // PGlite is one connection: step out of the app role for this statement only.
        await pglite.exec('RESET ROLE');
        try {
          if (params.length > 0) return (await pglite.query(text, params)).rows as T[];
          return ((await pglite.exec(text)).at(-1)?.rows ?? []) as T[];
        } finally {
          await pglite.exec(`SET ROLE ${APP_ROLE}`);
        }
      },
      drop: () => database.close(),
    };
  }
  const name = `tollgate_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const server = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined });
  const template = process.env[TEMPLATE_ENV];
  await server.unsafe(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  // A throwaway database need not wait for fsync at commit; locking and visibility are unchanged.
  await server.unsafe(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  const url = withDatabase(POSTGRES_URL, name);
  const database = await openDatabase({
    url: options.via ? options.via(url) : url, appRole: APP_ROLE, poolSize: options.poolSize ?? 10, connectTimeoutSeconds: options.connectTimeoutSeconds,
    statementConnections: options.statementConnections ?? 2,
  });
  const owner = postgres(url, { max: 2, onnotice: () => undefined });
  return {
    database,
    url,
    async asOwner<T>(text: string, params: unknown[] = []) {
      return [...(await owner.unsafe(text, params as never[]))] as T[];
    },
    async drop() {
      await database.close();
      await owner.end();
      await server.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await server.end();
    },
  };
}

export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export const TEST_SECRET = 'test-master-secret-0123456789abcdef';

export function testConfig(patch?: (file: ConfigFile) => void, env: Record<string, string> = {}): Config {
  const base = loadConfig({ env: { TOLLGATE_SECRET_KEY: TEST_SECRET, TOLLGATE_DATA_DIR: '/tmp/tollgate-test-unused', LOG_LEVEL: 'silent', ...env } });
  const file = structuredClone(base.file) as ConfigFile;
  file.auth.scryptCost = 10;
  // Suites fire many requests from one address; the rate-limit suite sets its own limits.
  for (const scope of Object.values(file.rateLimits.scopes)) scope.limit = 1_000_000;
  // Webhook receivers in tests listen on the loopback address: allowed explicitly, nothing else private.
  file.webhooks.allowedTargets = ['127.0.0.1'];
  patch?.(file);
  return { ...base, file };
}

export interface TestApp {
  app: FastifyInstance;
  deps: Deps;
  clock: ManualClock;
  mailer: MemoryMailer;
  db: TestDatabase;
  request(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  signup(email?: string, password?: string): Promise<SignedUp>;
  operator(): Promise<SignedUp>;
  close(): Promise<void>;
}

export interface SignedUp {
  userId: string;
  tenantId: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

/** A logger whose lines the test reads. */
export function capturedLogger(): { lines: string[]; logger: Logger } {
  const lines: string[] = [];
  return { lines, logger: createLogger('info', { write: (line: string) => { lines.push(line); } }) };
}

/** Moves a test clock forward to `ms` past the start of a second, so that what follows shares that second. */
export function intoNextSecond(clock: ManualClock, ms: number): void {
  clock.set(Math.floor(clock.now().getTime() / 1000) * 1000 + 1000 + ms);
}

let counter = 0;
export const uniqueEmail = (tag = 'user') => `${tag}-${Date.now().toString(36)}-${counter++}@example.com`;

export async function startTestApp(options: {
  patch?: (file: ConfigFile) => void; clock?: ManualClock; env?: Record<string, string>; logger?: Logger; poolSize?: number;
  /** PostgreSQL only: the app's connections go through this URL (test/tcp-relay.ts). */
  databaseVia?: (url: string) => string;
  databaseConnectTimeoutSeconds?: number;
  /** Mail goes where the config says (TOLLGATE_SMTP_URL in `env`), as in production, not to `mailer`'s memory. */
  configuredMailer?: boolean;
} = {}): Promise<TestApp> {
  const db = await createTestDatabase({ poolSize: options.poolSize, via: options.databaseVia, connectTimeoutSeconds: options.databaseConnectTimeoutSeconds });
  const clock = options.clock ?? new ManualClock(new Date());
  const mailer = new MemoryMailer();
  const config = testConfig(options.patch, options.env);
  const deps = await createDeps(config, { clock, ...(options.configuredMailer ? {} : { mailer }), database: db.database, logger: options.logger ?? pino({ level: 'silent' }), rateLimitPrefix: `test-${randomBytes(6).toString('hex')}` });
  // Background writers (key lastUsedAt, decision log) would land at random moments inside
  // snapshot comparisons; suites flush them explicitly instead.
  await deps.keyUsage.stop();
  await deps.decisionLog.stop();
  const app = await buildApp(deps);
  const request: TestApp['request'] = ({ token, headers, ...rest }) =>
    app.inject({ ...rest, headers: { ...(headers ?? {}), ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  const signup = async (email = uniqueEmail(), password = 'correct-horse-battery') => {
    const res = await request({ method: 'POST', url: '/v1/signup', payload: { email, password } });
    if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
    const body = res.json();
    return { userId: body.user.id, tenantId: body.tenant.id, email, password, accessToken: body.accessToken, refreshToken: body.refreshToken };
  };
  return {
    app, deps, clock, mailer, db, request, signup,
    async operator() {
      const email = uniqueEmail('operator');
      await deps.auth.ensureOperator(email, 'operator-password-123', 'test harness');
      const res = await request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email, password: 'operator-password-123' } });
      const body = res.json();
      const me = (await request({ method: 'GET', url: '/v1/me', token: body.accessToken })).json();
      return { userId: me.user.id, tenantId: me.user.personalTenantId, email, password: 'operator-password-123', accessToken: body.accessToken, refreshToken: body.refreshToken };
    },
    async close() {
      await app.close();
      await deps.close();
      await db.drop();
    },
  };
}

/**
 * A second Tollgate instance over the same database, with its own pool (PostgreSQL) and
 * its own caches, sharing the first one's clock: what another server process would be.
 * On PGlite it shares the one embedded database.
 */
export interface SecondInstance {
  app: FastifyInstance;
  deps: Deps;
  request(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startSecondInstance(one: TestApp, patch?: (file: ConfigFile) => void): Promise<SecondInstance> {
  const database = one.db.url ? await openDatabase({ url: one.db.url, appRole: APP_ROLE, migrate: false, poolSize: 5 }) : one.db.database;
  const deps = await createDeps(testConfig(patch), { clock: one.clock, database, mailer: new MemoryMailer(), logger: pino({ level: 'silent' }) });
  await deps.keyUsage.stop();
  await deps.decisionLog.stop();
  const app = await buildApp(deps);
  return {
    app, deps,
    request: ({ token, headers, ...rest }) => app.inject({ ...rest, headers: { ...(headers ?? {}), ...(token ? { authorization: `Bearer ${token}` } : {}) } }),
    async close() {
      await app.close();
      await deps.close();
      if (one.db.url) await database.close();
    },
  };
}

/** A fingerprint of every row of every table, read as the owner: equal fingerprints mean nothing was written. */
export async function snapshot(db: TestDatabase): Promise<Record<string, string>> {
  const tables = await db.asOwner<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('tollgate_migrations', 'tollgate_functions') ORDER BY tablename");
  const out: Record<string, string> = {};
  for (const { tablename } of tables) {
    const [row] = await db.asOwner<{ digest: string | null; n: number }>(
      `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest, count(*)::int AS n FROM "${tablename}" t`);
    out[tablename] = `${row?.n}:${row?.digest}`;
  }
  return out;
}

/** A team tenant owned by `owner`, with each of `members` invited and accepted in their role. */
export async function createTeam(t: TestApp, owner: SignedUp, members: [SignedUp, 'owner' | 'admin' | 'member'][]): Promise<string> {
  const tenantId = (await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name: 'Team' } })).json().id as string;
  for (const [user, role] of members) {
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: owner.accessToken, payload: { email: user.email, role } })).json();
    const accepted = await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: user.accessToken });
    if (accepted.statusCode !== 200) throw new Error(`accept failed: ${accepted.statusCode} ${accepted.body}`);
  }
  return tenantId;
}

/** Counts every statement a request could issue through the app's database handle (spies on the real handle; nothing is replaced). */
export function countQueries(t: TestApp): { count: () => number; restore: () => void } {
  const db = t.deps.database.db as unknown as Record<string, (...args: unknown[]) => unknown>;
  const spies = ['transaction', 'execute', 'select', 'insert', 'update', 'delete'].map((m) => vi.spyOn(db, m));
  return { count: () => spies.reduce((n, s) => n + s.mock.calls.length, 0), restore: () => spies.forEach((s) => s.mockRestore()) };
}

/** The app's GET /metrics text. */
export async function scrapeMetrics(t: TestApp): Promise<string> {
  return (await t.request({ method: 'GET', url: '/metrics' })).body;
}

/** One sample's value in Prometheus text (`series` with its labels), 0 when the series is absent. */
export function metricSample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
