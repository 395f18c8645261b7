import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enterpriseTenant, sentExternalId, startBedrockApp, type BedrockApp, type EnterpriseTenant } from '../../../test/bedrock.js';
import type { TestApp } from '../../../test/harness.js';
import type { FakeSts } from '../../../test/sts.js';

// One tenant must never get credentials for a role another tenant's AWS account trusts the
// platform with (AWS's "confused deputy"): docs/routing.md, "The tenant's trust policy".

let world: BedrockApp;
let t: TestApp;
let sts: FakeSts;

beforeAll(async () => {
  world = await startBedrockApp();
  ({ t, sts } = world);
});
afterAll(async () => { await world?.close(); });

let roles = 0;
/** A role of its own for each test: a role ARN is one tenant's. */
const newRole = () => `arn:aws:iam::210987654321:role/bedrock-${++roles}`;
const put = (tenant: EnterpriseTenant, name: string, payload: Record<string, unknown>, token = tenant.owner.accessToken) => {
  t.clock.advance(1);
  return t.request({ method: 'PUT', url: `/v1/tenants/${tenant.tenantId}/routes/${name}`, token, payload });
};
const bedrock = (roleArn: string, overrides: Record<string, unknown> = {}) => ({ provider: 'bedrock', region: 'eu-west-1', roleArn, models: ['*'], ...overrides });
const decide = async (tenant: EnterpriseTenant) => (await t.request({ method: 'POST', url: '/v1/authorize', token: tenant.key, payload: { operation: 'clustering' } })).json().decisionId as string;
const credentials = (tenant: EnterpriseTenant, decisionId: string) => t.request({ method: 'POST', url: '/v1/routes/credentials', token: tenant.key, payload: { decisionId } });
const list = async (tenant: EnterpriseTenant, token = tenant.owner.accessToken) => (await t.request({ method: 'GET', url: `/v1/tenants/${tenant.tenantId}/routes`, token })).json();

describe('the external ID is the platform\'s, one per tenant', () => {
  it('is made once per tenant and shown to its owners and operators; STS gets it, then the one a PUT gives after a colon', async () => {
    const victim = await enterpriseTenant(t);
    expect(victim.externalId).toMatch(/^tg-[0-9a-f]{32}$/);
    expect((await list(victim)).externalId).toBe(victim.externalId);
    expect((await t.request({ method: 'GET', url: `/v1/admin/tenants/${victim.tenantId}/routes`, token: victim.operator.accessToken })).json().externalId).toBe(victim.externalId);
    const role = newRole();
    sts.roles.set(role, victim.externalId);
    const created = await put(victim, 'aws', bedrock(role));
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ secretLastFour: null, legacyExternalId: false });
    const before = sts.calls.length;
    expect((await credentials(victim, await decide(victim))).statusCode).toBe(200);
    const suffixed = newRole();
    sts.roles.set(suffixed, sentExternalId(victim, 'prod'));
    await put(victim, 'aws', bedrock(suffixed, { externalId: 'prod' }));
    expect((await credentials(victim, await decide(victim))).statusCode).toBe(200);
    expect(sts.calls.slice(before).map((c) => [c.roleArn, c.externalId])).toEqual([[role, victim.externalId], [suffixed, `${victim.externalId}:prod`]]);
    expect((await list(victim)).externalId).toBe(victim.externalId);
  });

  it('another tenant, even knowing it, cannot have STS get a tenant\'s external ID: its own always comes first', async () => {
    const victim = await enterpriseTenant(t);
    // The victim's role trusts the platform with the victim's external ID (its route not registered yet, or never).
    const role = newRole();
    sts.roles.set(role, victim.externalId);
    const attacker = await enterpriseTenant(t);
    expect(attacker.externalId).not.toBe(victim.externalId);
    const before = sts.calls.length;
    for (const externalId of [undefined, victim.externalId, victim.externalId.slice(3)]) {
      await put(attacker, 'aws', bedrock(role, externalId === undefined ? {} : { externalId }));
      const refused = await credentials(attacker, await decide(attacker));
      expect([refused.statusCode, refused.json().error.code]).toEqual([502, 'PROVIDER_CREDENTIALS_FAILED']);
    }
    expect(sts.calls.slice(before).map((c) => c.externalId)).toEqual([
      attacker.externalId, `${attacker.externalId}:${victim.externalId}`, `${attacker.externalId}:${victim.externalId.slice(3)}`,
    ]);
  });

  it('a route stored before the platform made them sends the one its PUT gave, alone, until it is replaced', async () => {
    const tenant = await enterpriseTenant(t);
    const role = newRole();
    await put(tenant, 'aws', bedrock(role, { externalId: 'chosen-by-the-tenant' }));
    await t.db.asOwner('UPDATE tenant_routes SET legacy_external_id = true WHERE tenant_id = $1', [tenant.tenantId]);
    expect((await list(tenant)).routes[0]).toMatchObject({ name: 'aws', legacyExternalId: true });
    sts.roles.set(role, 'chosen-by-the-tenant');
    const before = sts.calls.length;
    expect((await credentials(tenant, await decide(tenant))).statusCode).toBe(200);
    expect((await put(tenant, 'aws', bedrock(role, { externalId: 'chosen-by-the-tenant' }))).json().legacyExternalId).toBe(false);
    expect((await credentials(tenant, await decide(tenant))).statusCode).toBe(502);
    expect(sts.calls.slice(before).map((c) => c.externalId)).toEqual(['chosen-by-the-tenant', sentExternalId(tenant, 'chosen-by-the-tenant')]);
  });
});

describe('a role is one tenant\'s', () => {
  const routesOf = async (tenant: EnterpriseTenant) => t.db.asOwner('SELECT name FROM tenant_routes WHERE tenant_id = $1', [tenant.tenantId]);

  it('a role another tenant\'s route names is refused (409 ROLE_ARN_TAKEN), in any case or path, to owners and operators alike; nothing is written', async () => {
    const first = await enterpriseTenant(t);
    const role = newRole();
    expect((await put(first, 'aws', bedrock(role))).statusCode).toBe(201);
    // The tenant's own second route may name it (another region).
    expect((await put(first, 'aws-us', bedrock(role, { region: 'us-east-1' }))).statusCode).toBe(201);
    const second = await enterpriseTenant(t);
    const [account, name] = role.split(':role/') as [string, string];
    for (const arn of [role, `${account}:role/${name.toUpperCase()}`, `${account}:role/some/path/${name}`]) {
      for (const token of [second.owner.accessToken, undefined]) {
        const res = token ? await put(second, 'aws', bedrock(arn)) : await t.request({
          method: 'PUT', url: `/v1/admin/tenants/${second.tenantId}/routes/aws`, token: second.operator.accessToken, payload: bedrock(arn),
        });
        expect([res.statusCode, res.json().error?.code], `${arn} ${token ? 'owner' : 'operator'}`).toEqual([409, 'ROLE_ARN_TAKEN']);
        expect(res.body).not.toContain(first.tenantId);
      }
    }
    // Another account's role of the same name is another role.
    expect((await put(second, 'aws', bedrock(role.replace('210987654321', '210987654322')))).statusCode).toBe(201);
    expect(await routesOf(second)).toEqual([{ name: 'aws' }]);
    expect(await t.db.asOwner(`SELECT action FROM audit_log WHERE tenant_id = $1 AND action LIKE 'route.%'`, [second.tenantId])).toEqual([{ action: 'route.create' }]);
    // Once the first tenant's routes no longer name it, it may be another's.
    await put(first, 'aws', bedrock(newRole()));
    t.clock.advance(1);
    await t.request({ method: 'DELETE', url: `/v1/tenants/${first.tenantId}/routes/aws-us`, token: first.owner.accessToken });
    expect((await put(second, 'aws', bedrock(role))).statusCode).toBe(200);
  });

  it('of two tenants registering one role at once, one gets it', async () => {
    const [a, b] = [await enterpriseTenant(t), await enterpriseTenant(t)];
    for (let round = 0; round < 4; round++) {
      const role = newRole();
      const answers = await Promise.all([put(a, 'aws', bedrock(role)), put(b, 'aws', bedrock(role))]);
      // On PostgreSQL each PUT is its own connection: without the role's lock both would find no other route naming it.
      expect(answers.map((r) => (r.statusCode === 409 ? r.json().error.code : 'stored')).sort(), answers.map((r) => r.body).join('\n')).toEqual(['ROLE_ARN_TAKEN', 'stored']);
      expect(await t.db.asOwner('SELECT tenant_id FROM tenant_routes WHERE role_arn = $1', [role])).toHaveLength(1);
    }
  });
});

describe('failed STS calls', () => {
  it('are throttled per tenant: past 10 in the window its next STS call is refused 429 without reaching STS; a call that gets credentials spends nothing', async () => {
    const tenant = await enterpriseTenant(t);
    const role = newRole();
    await put(tenant, 'aws', bedrock(role));
    let decisionId = await decide(tenant);
    const before = sts.calls.length;
    for (let i = 0; i < 9; i++) expect((await credentials(tenant, decisionId)).statusCode).toBe(502);
    sts.roles.set(role, tenant.externalId);
    expect((await credentials(tenant, decisionId)).statusCode).toBe(200);
    // Trusted no more; past the cached credentials' refresh, on a new decision: the tenant's tenth failure is still made.
    sts.roles.delete(role);
    t.clock.advance(3301_000);
    decisionId = await decide(tenant);
    expect((await credentials(tenant, decisionId)).statusCode).toBe(502);
    const refused = await credentials(tenant, decisionId);
    expect([refused.statusCode, refused.json().error.code], refused.body).toEqual([429, 'RATE_LIMITED']);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(sts.calls.length - before).toBe(11);
    // Another tenant's calls still go to STS.
    const other = await enterpriseTenant(t);
    await put(other, 'aws', bedrock(newRole()));
    expect((await credentials(other, await decide(other))).statusCode).toBe(502);
    expect(sts.calls.length - before).toBe(12);
  });
});

describe('one decision, one route', () => {
  it('a decision\'s credentials are for its route as the decision read it: once the route changed, none on that decision, and no STS call', async () => {
    const tenant = await enterpriseTenant(t);
    const role = newRole();
    sts.roles.set(role, sentExternalId(tenant, 'the-right-one'));
    await put(tenant, 'aws', bedrock(role, { externalId: 'guess-0' }));
    const decisionId = await decide(tenant);
    const before = sts.calls.length;
    expect((await credentials(tenant, decisionId)).statusCode).toBe(502);
    const answers: unknown[] = [];
    for (const externalId of ['guess-1', 'guess-2', 'the-right-one']) {
      await put(tenant, 'aws', bedrock(role, { externalId }));
      const res = await credentials(tenant, decisionId);
      answers.push([res.statusCode, res.json().error?.code]);
    }
    expect(answers).toEqual([[409, 'ROUTE_UNAVAILABLE'], [409, 'ROUTE_UNAVAILABLE'], [409, 'ROUTE_UNAVAILABLE']]);
    expect(sts.calls.length - before).toBe(1);
    // A new decision reads the route as it is now; deleted and made again just as it was, it is another route to that decision.
    const next = await decide(tenant);
    expect((await credentials(tenant, next)).statusCode).toBe(200);
    t.clock.advance(1);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.tenantId}/routes/aws`, token: tenant.owner.accessToken })).statusCode).toBe(204);
    await put(tenant, 'aws', bedrock(role, { externalId: 'the-right-one' }));
    expect((await credentials(tenant, next)).json().error.code).toBe('ROUTE_UNAVAILABLE');
    // A decision kept before routes had revisions names none: nothing either.
    const kept = await decide(tenant);
    await t.db.asOwner(`UPDATE credit_reservations SET route = route - 'revision' WHERE decision_id = $1`, [kept]);
    expect((await credentials(tenant, kept)).json().error.code).toBe('ROUTE_UNAVAILABLE');
  });

  it('a key replaced since the decision is not handed out on it; the next decision gets the new one', async () => {
    const tenant = await enterpriseTenant(t);
    const key = (apiKey: string) => ({ provider: 'openai', apiKey });
    await put(tenant, 'openai', key('sk-first-key-of-the-tenant-0001'));
    const decisionId = await decide(tenant);
    expect((await credentials(tenant, decisionId)).json().apiKey).toBe('sk-first-key-of-the-tenant-0001');
    await put(tenant, 'openai', key('sk-second-key-of-the-tenant-0002'));
    const stale = await credentials(tenant, decisionId);
    expect([stale.statusCode, stale.json().error.code]).toEqual([409, 'ROUTE_UNAVAILABLE']);
    expect(stale.body).not.toContain('sk-second');
    expect((await credentials(tenant, await decide(tenant))).json().apiKey).toBe('sk-second-key-of-the-tenant-0002');
  });
});
