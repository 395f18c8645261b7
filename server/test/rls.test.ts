import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rows } from '../src/db/client.js';
import { inTenant } from '../src/db/scope.js';
import { APP_ROLE, onPostgres, startTestApp, type SignedUp, type TestApp } from './harness.js';

let t: TestApp;
let a: SignedUp;
let b: SignedUp;

beforeAll(async () => {
  t = await startTestApp();
  a = await t.signup();
  b = await t.signup();
});
afterAll(async () => { await t.close(); });

describe('row-level security catalog', () => {
  it('every table with tenant_id has RLS enabled and forced, a USING and WITH CHECK policy, NOT NULL and a leading index', async () => {
    const tables = await t.db.asOwner<{ relname: string; rls: boolean; forced: boolean; notnull: boolean }>(`
      SELECT c.relname, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, a.attnotnull AS notnull
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname`);
    expect(tables.map((r) => r.relname)).toEqual(expect.arrayContaining(['audit_log', 'invitations', 'memberships', 'subscriptions']));
    for (const table of tables) {
      expect(table, table.relname).toMatchObject({ rls: true, forced: true, notnull: true });
      const policies = await t.db.asOwner<{ qual: string | null; with_check: string | null }>(
        'SELECT qual, with_check FROM pg_policies WHERE schemaname = $1 AND tablename = $2', ['public', table.relname]);
      expect(policies.length, table.relname).toBeGreaterThan(0);
      for (const p of policies) {
        expect(p.qual, table.relname).toContain('app.tenant_id');
        expect(p.with_check, table.relname).toContain('app.tenant_id');
      }
      const leading = await t.db.asOwner(`
        SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = $1::regclass AND a.attname = 'tenant_id'`, [table.relname]);
      expect(leading.length, `${table.relname} has an index led by tenant_id`).toBeGreaterThan(0);
    }
    const [tenants] = await t.db.asOwner<{ rls: boolean; forced: boolean }>(
      "SELECT relrowsecurity AS rls, relforcerowsecurity AS forced FROM pg_class WHERE relname = 'tenants'");
    expect(tenants).toEqual({ rls: true, forced: true });
  });

  it('the server acts as a role that is neither superuser nor BYPASSRLS, and not the owner of the tables', async () => {
    const [role] = await rows<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean }>(t.deps.database.db,
      sql`SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`);
    expect(role).toEqual({ current_user: APP_ROLE, rolsuper: false, rolbypassrls: false });
    const owned = await t.db.asOwner(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = '${APP_ROLE}'`);
    expect(owned).toEqual([]);
  });
});

describe('row-level security at work', () => {
  const db = () => t.deps.database.db;

  it('with no tenant set, tenant-scoped queries return no row', async () => {
    for (const table of ['memberships', 'subscriptions', 'audit_log', 'tenants', 'invitations']) {
      const found = await rows(db(), sql.raw(`SELECT * FROM ${table}`));
      expect(found, table).toEqual([]);
    }
  });

  it('with tenant A set, rows of B are invisible and cannot be written', async () => {
    await inTenant(db(), a.tenantId, async (tx) => {
      const visible = await rows<{ tenant_id: string }>(tx, sql`SELECT tenant_id FROM memberships`);
      expect(visible.map((r) => r.tenant_id)).toEqual([a.tenantId]);
      const audit = await rows<{ tenant_id: string }>(tx, sql`SELECT DISTINCT tenant_id FROM audit_log`);
      expect(audit.map((r) => r.tenant_id)).toEqual([a.tenantId]);
      const updated = await rows(tx, sql`UPDATE memberships SET role = 'member' WHERE tenant_id = ${b.tenantId} RETURNING *`);
      expect(updated).toEqual([]);
      const deleted = await rows(tx, sql`DELETE FROM subscriptions WHERE tenant_id = ${b.tenantId} RETURNING *`);
      expect(deleted).toEqual([]);
    });
    await expect(inTenant(db(), a.tenantId, (tx) =>
      tx.execute(sql`INSERT INTO memberships (tenant_id, user_id, role) VALUES (${b.tenantId}, ${a.userId}, 'owner')`))).rejects.toThrow();
    await expect(inTenant(db(), a.tenantId, (tx) =>
      tx.execute(sql`UPDATE memberships SET tenant_id = ${b.tenantId} WHERE tenant_id = ${a.tenantId}`))).rejects.toThrow();
    const [owner] = await t.db.asOwner<{ role: string }>('SELECT role FROM memberships WHERE tenant_id = $1', [b.tenantId]);
    expect(owner?.role).toBe('owner');
  });

  it('a batch\'s tenant list (app.tenant_ids, set by tollgate_decide) admits exactly the listed tenants, for this transaction only', async () => {
    const c = await t.signup();
    await db().transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('app.tenant_ids', ${`${a.tenantId},${c.tenantId}`}, true)`);
      const visible = await rows<{ tenant_id: string }>(tx, sql`SELECT tenant_id FROM subscriptions ORDER BY tenant_id`);
      expect(visible.map((r) => r.tenant_id)).toEqual([a.tenantId, c.tenantId].sort());
      const tenants = await rows<{ id: string }>(tx, sql`SELECT id FROM tenants WHERE id = ${b.tenantId}`);
      expect(tenants).toEqual([]);
      const updated = await rows(tx, sql`UPDATE credit_accounts SET updated_at = now() WHERE tenant_id = ${b.tenantId} RETURNING *`);
      expect(updated).toEqual([]);
    });
    await expect(db().transaction(async (tx) => {
      await tx.execute(sql`SELECT set_config('app.tenant_ids', ${a.tenantId}, true)`);
      await tx.execute(sql`INSERT INTO memberships (tenant_id, user_id, role) VALUES (${b.tenantId}, ${a.userId}, 'owner')`);
    })).rejects.toThrow();
    expect(await rows(db(), sql`SELECT * FROM subscriptions`)).toEqual([]);
  });

  it('the tenant setting is transaction-local: it does not leak to the next transaction on the connection', async () => {
    await inTenant(db(), a.tenantId, async () => undefined);
    expect(await rows(db(), sql`SELECT * FROM memberships`)).toEqual([]);
  });

  it('the audit log is append-only for the server role', async () => {
    const denied = (e: Error & { cause?: Error }) => /permission denied/.test(`${e.message} ${e.cause?.message}`);
    await expect(inTenant(db(), a.tenantId, (tx) => tx.execute(sql`UPDATE audit_log SET action = 'x'`))).rejects.toSatisfy(denied);
    await expect(inTenant(db(), a.tenantId, (tx) => tx.execute(sql`DELETE FROM audit_log`))).rejects.toSatisfy(denied);
  });
});

describe('a decision\'s reservation is its record', () => {
  // Since 0019 the reservation an allowed decision opens is the only record of who decided
  // it: the server role may resolve it (status, charge, refund), never rewrite or delete it.
  const denied = (e: Error & { cause?: Error }) => /permission denied/.test(`${e.message} ${e.cause?.message}`);
  const db = () => t.deps.database.db;
  beforeAll(async () => {
    await t.db.asOwner(`INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, amount, status, charged, refunded, expires_at, created_at,
        actor_type, actor_id, decision_id, principal_type, principal_id, module)
      VALUES ($1, 'res_record', 'authorize:dec_record', 'h', 'clustering', 10, 'held', 0, 0, now() + interval '1 hour', now(), 'api_key', 'key_x', 'dec_record', 'api_key', 'key_x', 'planner')`,
    [a.tenantId]);
  });
  it.each(['principal_id', 'principal_type', 'user_id', 'module', 'request_id', 'decision_id', 'actor_id', 'amount', 'operation', 'created_at', 'tenant_id'])(
    'the server role cannot rewrite %s', async (column) => {
      await expect(inTenant(db(), a.tenantId, (tx) => tx.execute(sql.raw(`UPDATE credit_reservations SET ${column} = ${column} WHERE id = 'res_record'`)))).rejects.toSatisfy(denied);
    });
  it('nor delete it, but may resolve it', async () => {
    await expect(inTenant(db(), a.tenantId, (tx) => tx.execute(sql`DELETE FROM credit_reservations WHERE id = 'res_record'`))).rejects.toSatisfy(denied);
    await inTenant(db(), a.tenantId, (tx) => tx.execute(sql`UPDATE credit_reservations SET status = 'settled', charged = 10, refunded = 2, resolved_at = now() WHERE id = 'res_record'`));
    expect(await t.db.asOwner("SELECT status, charged::int, refunded::int, principal_id FROM credit_reservations WHERE id = 'res_record'"))
      .toEqual([{ status: 'settled', charged: 10, refunded: 2, principal_id: 'key_x' }]);
  });
});

describe.skipIf(!onPostgres)('PostgreSQL role checks', () => {
  it('the server refuses to start as a superuser (no SET ROLE)', async () => {
    await expect(openDatabase({ url: t.db.url, appRole: '', migrate: false })).rejects.toThrow(/superuser or has BYPASSRLS/);
  });

  it('the server refuses to start as a BYPASSRLS role', async () => {
    await t.db.asOwner(`DO $$ BEGIN CREATE ROLE tollgate_test_bypass NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    await expect(openDatabase({ url: t.db.url, appRole: 'tollgate_test_bypass', migrate: false })).rejects.toThrow(/BYPASSRLS/);
  });
});
