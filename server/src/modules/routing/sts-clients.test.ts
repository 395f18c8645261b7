import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enterpriseTenant, startBedrockApp, type BedrockApp } from '../../../test/bedrock.js';

let world: BedrockApp;

beforeAll(async () => { world = await startBedrockApp(); });
afterAll(async () => { await world?.close(); });

describe('STS clients', () => {
  it('are kept one per region that has issued credentials, at most 64; a region that issued none keeps none', async () => {
    const { t, sts } = world;
    const tenant = await enterpriseTenant(t);
    // A decision for each region: credits for all of them.
    const grant = await t.request({ method: 'POST', url: `/v1/admin/tenants/${tenant.tenantId}/credits`, token: tenant.operator.accessToken, payload: { amount: 1000, reason: 'regions', idempotencyKey: 'regions' } });
    expect(grant.statusCode, grant.body).toBeLessThan(300);
    const role = 'arn:aws:iam::210987654321:role/bedrock-regions';
    const held = () => (t.deps.providerCredentials as unknown as { clients: Map<string, unknown> }).clients.size;
    const ask = async (region: string) => {
      t.clock.advance(1);
      await t.request({ method: 'PUT', url: `/v1/tenants/${tenant.tenantId}/routes/aws`, token: tenant.owner.accessToken, payload: { provider: 'bedrock', region, roleArn: role } });
      const decisionId = (await t.request({ method: 'POST', url: '/v1/authorize', token: tenant.key, payload: { operation: 'clustering' } })).json().decisionId as string;
      return (await t.request({ method: 'POST', url: '/v1/routes/credentials', token: tenant.key, payload: { decisionId } })).statusCode;
    };
    // Regions the pattern takes: two letters, a direction, a digit (millions of them; STS has some 35).
    const regions = Array.from({ length: 70 }, (_, i) => `${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}-north-${1 + (i % 9)}`);
    const before = held();
    for (const region of regions.slice(0, 5)) expect(await ask(region)).toBe(502);
    expect(held()).toBe(before);
    sts.roles.set(role, tenant.externalId);
    for (const region of regions) expect(await ask(region)).toBe(200);
    expect(held()).toBe(64);
    // Past the bound, a region's call still gets credentials, through a client of its own.
    expect(sts.calls.slice(-70).map((c) => c.region)).toEqual(regions);
  });
});
