import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config.js';
import { createDeps } from '../../deps.js';
import { PlansService } from '../plans/index.js';
import { startTestApp, testConfig, type TestApp } from '../../../test/harness.js';
import { modelAllowed, moduleEnabled } from './service.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ patch: (file) => { file.plans.free!.models = ['bedrock/*']; file.plans.free!.features = ['export']; } });
});
afterAll(async () => { await t.close(); });

describe('module switches', () => {
  it('default from the plan; owners/admins switch them, audited; members may only read', async () => {
    const owner = await t.signup();
    const member = await t.signup();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: member.email, role: 'member' } })).json();
    await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: member.accessToken });
    const url = `/v1/tenants/${owner.tenantId}/modules`;

    const listed = (await t.request({ method: 'GET', url, token: member.accessToken })).json().modules;
    expect(listed.find((m: { module: string }) => m.module === 'writer')).toEqual({ module: 'writer', enabled: true, inPlan: true, switchedOff: false });
    expect(listed.find((m: { module: string }) => m.module === 'thinker')).toMatchObject({ enabled: false, inPlan: false });

    const off = await t.request({ method: 'PUT', url: `${url}/writer`, token: owner.accessToken, payload: { enabled: false } });
    expect(off.json()).toEqual({ module: 'writer', enabled: false, inPlan: true, switchedOff: true });
    expect(moduleEnabled(await t.deps.metering.entitlements(owner.tenantId), 'writer')).toBe(false);

    const byMember = await t.request({ method: 'PUT', url: `${url}/writer`, token: member.accessToken, payload: { enabled: true } });
    expect(byMember.statusCode).toBe(403);
    expect(byMember.json().error.code).toBe('FORBIDDEN');

    expect((await t.request({ method: 'PUT', url: `${url}/writer`, token: owner.accessToken, payload: { enabled: true } })).json().enabled).toBe(true);
    const notInPlan = await t.request({ method: 'PUT', url: `${url}/thinker`, token: owner.accessToken, payload: { enabled: true } });
    expect(notInPlan.statusCode).toBe(409);
    expect(notInPlan.json().error.code).toBe('MODULE_NOT_IN_PLAN');
    const unknown = await t.request({ method: 'PUT', url: `${url}/teleporter`, token: owner.accessToken, payload: { enabled: true } });
    expect(unknown.json().error.code).toBe('MODULE_NOT_FOUND');

    const audit = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/audit`, token: owner.accessToken })).json();
    expect(audit.entries.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['module.disable', 'module.enable']));
  });
});

describe('effective entitlements and operator overrides', () => {
  it('combine the plan, limit overrides, the enterprise override and switches', async () => {
    const op = await t.operator();
    const owner = await t.signup();
    const base = await t.deps.metering.entitlements(owner.tenantId);
    expect(base).toMatchObject({ plan: 'free', enterprise: false, limits: { runs: 10 }, concurrentRuns: 2, creditsPerPeriod: 100, features: ['export'] });
    expect(modelAllowed(base, 'bedrock/claude-sonnet')).toBe(true);
    expect(modelAllowed(base, 'openai/gpt-4o')).toBe(false);

    const url = `/v1/admin/tenants/${owner.tenantId}`;
    const patched = await t.request({ method: 'PATCH', url, token: op.accessToken, payload: { limits: { runs: 50, concurrentRuns: 8 }, enterprise: true } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ plan: 'free', enterprise: true });
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: owner.accessToken })).json().enterprise).toBe(true);
    expect(await t.deps.metering.entitlements(owner.tenantId)).toMatchObject({ enterprise: true, limits: { runs: 50 }, concurrentRuns: 8 });

    await t.request({ method: 'PATCH', url, token: op.accessToken, payload: { plan: 'pro' } });
    expect(await t.deps.metering.entitlements(owner.tenantId)).toMatchObject({ plan: 'pro', limits: { runs: 50 }, modules: { thinker: true } });

    await t.request({ method: 'PATCH', url, token: op.accessToken, payload: { limits: { runs: null, concurrentRuns: null }, enterprise: null } });
    expect(await t.deps.metering.entitlements(owner.tenantId)).toMatchObject({ enterprise: false, limits: { runs: 1000 }, concurrentRuns: 10 });

    const audit = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/audit?action=tenant.update`, token: op.accessToken })).json();
    expect(audit.entries.map((e: { data: object }) => Object.keys(e.data).sort())).toEqual(expect.arrayContaining([
      ['enterprise', 'limits.concurrentRuns', 'limits.runs'],
    ]));
  });

  it('refuse unknown meters and bad values with catalog codes, writing nothing', async () => {
    const op = await t.operator();
    const owner = await t.signup();
    const url = `/v1/admin/tenants/${owner.tenantId}`;
    for (const [payload, code] of [
      [{ limits: { teleports: 5 } }, 'METER_NOT_FOUND'],
      [{ limits: { runs: -1 } }, 'VALIDATION_FAILED'],
      [{ limits: { runs: 1.5 } }, 'VALIDATION_FAILED'],
      [{ limits: { runs: '5' } }, 'VALIDATION_FAILED'],
      [{ enterprise: 'yes' }, 'VALIDATION_FAILED'],
      [{ limits: { runs: 5 }, status: 'suspended', plan: 'gold' }, 'PLAN_NOT_FOUND'],
    ] as const) {
      const res = await t.request({ method: 'PATCH', url, token: op.accessToken, payload });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe(code);
    }
    expect(await t.deps.metering.entitlements(owner.tenantId)).toMatchObject({ limits: { runs: 10 } });
    expect((await t.deps.tenancy.getTenant(owner.tenantId)).status).toBe('active');
  });
});

describe('plans in use', () => {
  it('a server will not start while a tenant is on a plan its config lacks, rather than serve it the default plan', async () => {
    const owner = await t.signup();
    // As a config that renamed or dropped the plan would leave it.
    await t.db.asOwner("UPDATE subscriptions SET plan = 'legacy_enterprise' WHERE tenant_id = $1", [owner.tenantId]);
    const start = () => createDeps(testConfig(), { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }) });
    try {
      const refused = await start().then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as Error).message).toMatch(/plans in use are missing from the config: "legacy_enterprise" \(1 tenant\)/);
    } finally {
      await t.db.asOwner("UPDATE subscriptions SET plan = 'free' WHERE tenant_id = $1", [owner.tenantId]);
    }
    await (await start()).close();
  });

  it('a plan this process lacks that appears while it runs is served as the default plan, and said so once', async () => {
    const heard: string[] = [];
    const plans = new PlansService(testConfig().file, (plan) => heard.push(plan));
    expect(plans.ofSubscription(null).id).toBe('free');
    expect(plans.ofSubscription('pro').id).toBe('pro');
    expect([plans.ofSubscription('team_2027').id, plans.ofSubscription('team_2027').id]).toEqual(['free', 'free']);
    expect(heard).toEqual(['team_2027']);
  });
});
