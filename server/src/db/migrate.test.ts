import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, POSTGRES_URL, TEST_SECRET, testConfig, withDatabase } from '../../test/harness.js';
import { buildApp } from '../app.js';
import { createDeps, type Deps } from '../deps.js';
import { ManualClock } from '../lib/clock.js';
import { StartError } from '../lib/errors.js';
import { Sealer, sha256Hex } from '../lib/secrets.js';
import { generateKey } from '../modules/apikeys/index.js';
import { requestHash } from '../modules/credits/index.js';
import { openDatabase, type Database } from './client.js';
import { functionFiles, migrate, type MigrationTarget } from './migrate.js';
import { startPgliteThread } from './pglite-remote.js';

/** A database nobody has migrated, and a way to run SQL on it as its owner. */
interface Raw { target: MigrationTarget; open: () => Promise<Database>; drop: () => Promise<void> }

/**
 * Owns the database, as on a managed PostgreSQL: neither superuser nor BYPASSRLS, so the
 * tables' forced row-level security applies to what a migration reads and writes.
 */
const PLAIN_OWNER = 'tollgate_test_plain_owner';

/** `plainOwner` (PostgreSQL only): the database is made and migrated by PLAIN_OWNER, and is not opened by the app. */
async function rawDatabase(options: { plainOwner?: boolean } = {}): Promise<Raw> {
  if (!POSTGRES_URL) {
    const pglite = await startPgliteThread({});
    let opened = false;
    // One connection: once the app has it (in its role), the owner steps out of that role for each statement.
    const asOwner = async <T>(run: () => Promise<T>): Promise<T> => {
      if (!opened) return run();
      await pglite.exec('RESET ROLE');
      try {
        return await run();
      } finally {
        await pglite.exec(`SET ROLE ${APP_ROLE}`);
      }
    };
    return {
      target: {
        kind: 'pglite',
        exec: (text) => asOwner(async () => { await pglite.exec(text); }),
        query: (text) => asOwner(async () => (await pglite.query(text)).rows as Record<string, unknown>[]),
      },
      open: async () => {
        opened = true;
        return openDatabase({ appRole: APP_ROLE, pglite });
      },
      drop: () => pglite.close(),
    };
  }
  const name = `tollgate_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const server = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined });
  let url = withDatabase(POSTGRES_URL, name);
  if (options.plainOwner) {
    await server.unsafe(`DO $$ BEGIN CREATE ROLE ${PLAIN_OWNER} LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    await server.unsafe(`CREATE DATABASE ${name} OWNER ${PLAIN_OWNER}`);
    const parsed = new URL(url);
    parsed.username = PLAIN_OWNER;
    url = parsed.toString();
  } else {
    await server.unsafe(`CREATE DATABASE ${name}`);
  }
  const owner = postgres(url, { max: 1, onnotice: () => undefined });
  return {
    target: { kind: 'postgres', exec: async (text) => { await owner.unsafe(text); }, query: async (text) => [...await owner.unsafe(text)] },
    open: () => openDatabase({ url, appRole: APP_ROLE, poolSize: 4 }),
    drop: async () => {
      await owner.end();
      await server.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await server.end();
    },
  };
}

const ids = {
  user: 'usr_01JDZZZZZZZZZZZZZZZZZZZZZ1', tenant: 'tnt_01JDZZZZZZZZZZZZZZZZZZZZZ1', key: 'key_01JDZZZZZZZZZZZZZZZZZZZZZ1',
  held: 'res_01JDZZZZZZZZZZZZZZZZZZZZZ1', sub: 'sub_01JDZZZZZZZZZZZZZZZZZZZZZ1',
};

/**
 * A tenant as release 0008 left it: on the free plan in its first period, 100 credits
 * granted, one run counted and held (its reservation and lease), and an answer kept
 * under an idempotency key as 0008's statement spelled it.
 */
async function seedAt0008(target: MigrationTarget, key: string, now: Date): Promise<Record<string, unknown>> {
  const start = new Date(now.getTime() - 86_400_000).toISOString();
  const end = new Date(now.getTime() + 20 * 86_400_000).toISOString();
  const expires = new Date(now.getTime() + 600_000).toISOString();
  const kept = {
    allowed: true, code: 'OK', decisionId: 'dec_01JDZZZZZZZZZZZZZZZZZZZZZ1', tenant: { id: ids.tenant, plan: 'free', enterprise: false },
    principal: { type: 'api_key', id: ids.key, userId: null, role: null }, operation: { name: 'clustering', module: 'planner', credits: 10 },
    limits: [{ meter: 'runs', used: 1, limit: 10, remaining: 9, resetsAt: end }], credits: { balance: 100, reserved: 10, available: 90 },
    reservation: { id: ids.held, credits: 10, expiresAt: expires }, bypass: null, route: { provider: 'default' },
  };
  const hash = requestHash({ operation: 'clustering', module: 'planner', model: null, quantity: null });
  await target.exec(`
    SET app.system = 'on';
    INSERT INTO users (id, email, status, personal_tenant_id) VALUES ('${ids.user}', 'old@example.com', 'active', '${ids.tenant}');
    INSERT INTO tenants (id, name, kind, status) VALUES ('${ids.tenant}', 'Old', 'personal', 'active');
    INSERT INTO memberships (tenant_id, user_id, role) VALUES ('${ids.tenant}', '${ids.user}', 'owner');
    INSERT INTO subscriptions (tenant_id, id, plan, status, current_period_start, current_period_end, created_at)
      VALUES ('${ids.tenant}', '${ids.sub}', 'free', 'active', '${start}', '${end}', '${start}');
    INSERT INTO api_keys (tenant_id, id, name, prefix, last_four, key_hash, scopes, created_by, created_at)
      VALUES ('${ids.tenant}', '${ids.key}', 'old key', '${key.slice(0, 8)}', '${key.slice(-4)}', '${sha256Hex(key)}', ARRAY['authorize'], '${ids.user}', '${start}');
    INSERT INTO credit_accounts (tenant_id, balance, reserved) VALUES ('${ids.tenant}', 100, 10);
    INSERT INTO credit_ledger (tenant_id, id, kind, amount, hold, balance_after, reserved_after, idempotency_key, request_hash, actor_type)
      VALUES ('${ids.tenant}', 'led_1', 'grant', 100, 0, 100, 0, 'period:${new Date(start).toISOString()}', 'h', 'system'),
             ('${ids.tenant}', 'led_2', 'reserve', 0, 10, 100, 10, 'reserve:authorize:old-key', 'h', 'api_key');
    INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, amount, status, expires_at)
      VALUES ('${ids.tenant}', '${ids.held}', 'authorize:old-key', 'h', 'clustering', 10, 'held', '${expires}');
    INSERT INTO usage_counters (tenant_id, meter, period_start, period_end, used) VALUES ('${ids.tenant}', 'runs', '${start}', '${end}', 1);
    INSERT INTO run_leases (tenant_id, leases) VALUES ('${ids.tenant}', '{"${ids.held}": "${expires}"}');
    INSERT INTO decision_replays (tenant_id, idempotency_key, request_hash, decision, created_at)
      VALUES ('${ids.tenant}', 'old-key', '${hash}', '${JSON.stringify(kept)}', '${start}');
    RESET app.system;`);
  return kept;
}

describe('an installation at migration 0008 migrates forward', () => {
  let raw: Raw;
  let database: Database;
  let deps: Deps;
  let kept: Record<string, unknown>;
  const key = generateKey('tg');
  const clock = new ManualClock(new Date());

  beforeAll(async () => {
    raw = await rawDatabase();
    await migrate(raw.target, APP_ROLE, { through: '0008_session_millis.sql' });
    kept = await seedAt0008(raw.target, key, clock.now());
    database = await raw.open();
    deps = await createDeps(testConfig(), { clock, database, logger: pino({ level: 'silent' }), rateLimitPrefix: `migrate-${randomBytes(4).toString('hex')}` });
    await deps.decisionLog.stop();
    await deps.keyUsage.stop();
  });
  afterAll(async () => {
    await deps.close();
    await database.close();
    await raw.drop();
  });

  it('to the new layout: the live decision is the file\'s text and the old function is gone', async () => {
    const functions = await raw.target.query(`SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() AND p.proname = 'tollgate_decide'`);
    expect(functions).toHaveLength(1);
    expect(String(functions[0]!.args).replaceAll('"', '')).toBe('reqs tollgate_request[], mlimit bigint[], may_bypass boolean[], kcap bigint[], runs bigint[], cost bigint[], mi integer[], ki integer[], ti integer[], '
      + 'k_tid text[], k_meter text[], k_ps timestamp with time zone[], k_pe timestamp with time zone[], t_id text[], clow bigint, at timestamp with time zone, routes jsonb[]');
    const [live] = await raw.target.query("SELECT prosrc FROM pg_proc WHERE proname = 'tollgate_admit'");
    const file = readFileSync(new URL('./functions/decide.sql', import.meta.url), 'utf8');
    expect(file).toContain(String(live!.prosrc).trim());
    const applied = await raw.target.query('SELECT name FROM tollgate_functions ORDER BY name');
    expect(applied.map((r) => r.name)).toEqual(functionFiles());
  });

  it('and decides the same: the kept answer replays, counts and credits go on from where 0008 left them', async () => {
    const app = await buildApp(deps);
    try {
      const call = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/authorize', headers: { authorization: `Bearer ${key}` }, payload });
      const replay = (await call({ operation: 'clustering', idempotencyKey: 'old-key' })).json();
      // Kept before provider routing (0014): every call ran on the platform's route.
      expect(replay).toEqual({ ...kept, route: { provider: 'default', name: 'platform', region: null, billing: 'platform' }, replayed: true });
      const next = (await call({ operation: 'clustering' })).json();
      expect(next).toMatchObject({
        allowed: true, code: 'OK', tenant: { id: ids.tenant, plan: 'free' }, limits: [{ meter: 'runs', used: 2, limit: 10 }, { meter: 'concurrentRuns', used: 2, limit: 2 }],
        credits: { balance: 100, reserved: 20, available: 80 },
      });
      const settled = await app.inject({ method: 'POST', url: `/v1/reservations/${ids.held}/settle`, headers: { authorization: `Bearer ${key}` }, payload: { credits: 4 } });
      expect(settled.json()).toMatchObject({ reservation: { status: 'settled', charged: 4 }, credits: { balance: 96, reserved: 10 } });
      // A second migrate applies nothing more.
      expect(await migrate(raw.target, APP_ROLE)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

/** Reads as the system (the owner is under the tables' row-level security like anyone: PLAIN_OWNER). */
async function systemQuery(raw: Raw, text: string): Promise<Record<string, unknown>[]> {
  await raw.target.exec(`SET app.system = 'on'`);
  try {
    return await raw.target.query(text);
  } finally {
    await raw.target.exec('RESET app.system');
  }
}

/** A database migrated through `through`, holding the test tenant and what `seed` writes, as that release would have kept them. */
async function seededThrough(through: string, seed: string): Promise<Raw> {
  const raw = await rawDatabase({ plainOwner: true });
  await migrate(raw.target, APP_ROLE, { through });
  await raw.target.exec(`SET app.system = 'on';
    INSERT INTO tenants (id, name, kind, status) VALUES ('${ids.tenant}', 'Old', 'team', 'active');
    ${seed};
    RESET app.system;`);
  return raw;
}

describe('provider routes stored before 0026', () => {
  let raw: Raw;
  afterAll(async () => { await raw?.drop(); });

  it('show nothing of a secret shorter than 16 characters any more; a longer one keeps its last four, and no route changes', async () => {
    const sealer = new Sealer('provider-routes', TEST_SECRET);
    // As 0014 kept them: the last four of every secret, whatever its length.
    const secrets = { tiny: 'ab', fifteen: 'ext-id-15-chars', sixteen: 'external-id-16ch', key: 'sk-proj-a-long-provider-key-9d8e' };
    raw = await seededThrough('0025_paypal_transmissions.sql', `
      INSERT INTO tenant_routes (tenant_id, name, provider, region, role_arn, models, enabled, secret_sealed, secret_last_four, version, created_at, updated_at) VALUES
      ${Object.entries(secrets).map(([name, secret]) => `('${ids.tenant}', '${name}', 'bedrock', 'eu-central-1', 'arn:aws:iam::123456789012:role/r', ARRAY['*'], true,
        '${sealer.seal(secret, `route:${ids.tenant}:${name}`)}', '${secret.slice(-4)}', 3, now(), now())`).join(',\n')}`);
    const generation = await systemQuery(raw, `SELECT generation FROM tenants WHERE id = '${ids.tenant}'`);
    await migrate(raw.target, APP_ROLE);
    const rows = await systemQuery(raw, 'SELECT name, secret_last_four, version::int FROM tenant_routes ORDER BY name');
    expect(rows).toEqual([
      { name: 'fifteen', secret_last_four: null, version: 3 }, { name: 'key', secret_last_four: '9d8e', version: 3 },
      { name: 'sixteen', secret_last_four: '16ch', version: 3 }, { name: 'tiny', secret_last_four: null, version: 3 },
    ]);
    expect(await systemQuery(raw, `SELECT generation FROM tenants WHERE id = '${ids.tenant}'`)).toEqual(generation);
  });
});

describe('API keys made before 0027', () => {
  let raw: Raw;
  afterAll(async () => { await raw?.drop(); });

  it('take their lineage from their rotations: a chain is one lineage, a key whose predecessor is gone starts its own', async () => {
    const key = (id: string, rotatedFrom: string | null) => `('${ids.tenant}', '${id}', 'k', 'tg_x', 'abcd', 'hash-${id}', ARRAY['read'], 'usr_x', ${rotatedFrom ? `'${rotatedFrom}'` : 'NULL'}, now())`;
    raw = await seededThrough('0026_route_last_four_of_long_secrets.sql', `
      INSERT INTO api_keys (tenant_id, id, name, prefix, last_four, key_hash, scopes, created_by, rotated_from, created_at) VALUES
        ${[key('key_a', null), key('key_b', 'key_a'), key('key_c', 'key_b'), key('key_d', 'key_gone'), key('key_e', null)].join(',\n')}`);
    await migrate(raw.target, APP_ROLE);
    expect(await systemQuery(raw, 'SELECT id, lineage_id FROM api_keys ORDER BY id')).toEqual([
      { id: 'key_a', lineage_id: 'key_a' }, { id: 'key_b', lineage_id: 'key_a' }, { id: 'key_c', lineage_id: 'key_a' },
      { id: 'key_d', lineage_id: 'key_d' }, { id: 'key_e', lineage_id: 'key_e' },
    ]);
  });
});

describe('users made before 0028', () => {
  let raw: Raw;
  afterAll(async () => { await raw?.drop(); });

  it('have an email nobody verified (unknown), and keep their links to identity providers', async () => {
    raw = await seededThrough('0027_api_key_lineage.sql', `
      INSERT INTO users (id, email, status, personal_tenant_id) VALUES ('${ids.user}', 'old@example.com', 'active', '${ids.tenant}');
      INSERT INTO external_identities (provider, subject, user_id) VALUES ('auth0', 'auth0|old', '${ids.user}')`);
    await migrate(raw.target, APP_ROLE);
    expect(await systemQuery(raw, 'SELECT id, email_verified_at FROM users')).toEqual([{ id: ids.user, email_verified_at: null }]);
    expect(await systemQuery(raw, 'SELECT user_id FROM external_identities')).toEqual([{ user_id: ids.user }]);
  });
});

describe('a database a newer release has migrated', () => {
  let raw: Raw;
  const newer = '9999_from_a_newer_release.sql';

  beforeAll(async () => {
    raw = await rawDatabase();
    await migrate(raw.target, APP_ROLE);
    // What the newer release left: a migration this one lacks, and its own decision function.
    await raw.target.exec(`INSERT INTO tollgate_migrations (name) VALUES ('${newer}');
      UPDATE tollgate_functions SET sha256 = 'newer' WHERE name = 'decide.sql';
      CREATE OR REPLACE FUNCTION tollgate_iso(ts timestamptz) RETURNS text LANGUAGE sql STABLE AS $$ SELECT 'newer' $$;`);
  });
  afterAll(async () => { await raw.drop(); });

  it('is refused, naming the migration, and nothing of this release is written over it', async () => {
    const refused = await migrate(raw.target, APP_ROLE).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(StartError);
    expect((refused as Error).message).toBe(`the database was migrated by a newer release of Tollgate (${newer} is not in this one); `
      + 'run that release or a later one: an older release never runs on it, nor beside it (README, Upgrading)');
    // Without the refusal, the changed hash would have this release apply decide.sql again.
    expect(await raw.target.query("SELECT sha256 FROM tollgate_functions WHERE name = 'decide.sql'")).toEqual([{ sha256: 'newer' }]);
    expect(await raw.target.query("SELECT tollgate_iso(now()) AS v")).toEqual([{ v: 'newer' }]);
    // The lock is let go: another process may still start (and be refused the same way).
    await expect(migrate(raw.target, APP_ROLE)).rejects.toThrow(StartError);
    await expect(raw.open()).rejects.toThrow(/migrated by a newer release/);
  });
});
