import { describe, expect, it } from 'vitest';
import { Forbidden, NotFound, unwrap } from '../src/index.js';
import { apiKey, client, operator, signup } from './fixtures.js';

describe('the typed client of every route (tg.api) and request()', () => {
  it('calls a route with the client\'s credential; unwrap gives the data', async () => {
    const owner = await signup();
    const tg = client({ token: owner.accessToken });

    const me = await unwrap(tg.api.GET('/v1/me'));
    const members = await unwrap(tg.api.GET('/v1/tenants/{tenantId}/members', { params: { path: { tenantId: owner.tenantId } } }));

    expect(me.user.id).toBe(owner.userId);
    expect(me.memberships).toContainEqual(expect.objectContaining({ tenantId: owner.tenantId, role: 'owner' }));
    expect(members.members.map((member) => member.userId)).toEqual([owner.userId]);
  });

  it('answers { data, error, response } as openapi-fetch does, and unwrap throws the typed error', async () => {
    const owner = await signup();
    const tg = client({ apiKey: await apiKey(owner, ['authorize']) });

    const answer = await tg.api.GET('/v1/tenants/{tenantId}/credits', { params: { path: { tenantId: owner.tenantId } } });
    const thrown = await unwrap(tg.api.GET('/v1/tenants/{tenantId}/credits', { params: { path: { tenantId: owner.tenantId } } })).catch((error: unknown) => error);

    expect(answer.response.status).toBe(403);
    expect(answer.error?.error.code).toBe('INSUFFICIENT_SCOPE');
    expect(thrown).toBeInstanceOf(Forbidden);
    expect(thrown).toMatchObject({ code: 'INSUFFICIENT_SCOPE', status: 403, requestId: expect.stringMatching(/^req_/) });
  });

  it('an operator reads any tenant through the admin routes; a member cannot', async () => {
    const owner = await signup();
    const ops = await operator();

    const page = await unwrap(ops.api.GET('/v1/admin/tenants', { params: { query: { query: owner.tenantId } } }));
    const refused = await unwrap(client({ token: owner.accessToken }).api.GET('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId: owner.tenantId } } })).catch((error: unknown) => error);

    expect(page.tenants.map((tenant) => tenant.id)).toEqual([owner.tenantId]);
    expect(refused).toBeInstanceOf(Forbidden);
  });

  it('request() calls any path, typed or not, with the same errors', async () => {
    const owner = await signup();
    const tg = client({ token: owner.accessToken });

    const me = await tg.request<{ user: { id: string } }>('GET', '/v1/me');
    const missing = await tg.request('GET', '/v1/no-such-route').catch((error: unknown) => error);
    const preview = await tg.request<{ credits: number }>('POST', '/v1/costs/preview', { body: { operation: 'content_generation', quantity: { words: 250 } } });

    expect(me.user.id).toBe(owner.userId);
    expect(missing).toBeInstanceOf(NotFound);
    expect(preview.credits).toBe(3);
  });

  it('the reads a backend needs: cost preview, usage, usage events, credits, ledger', async () => {
    const owner = await signup();
    const tg = client({ apiKey: await apiKey(owner) });
    await tg.run('clustering', (run) => run.report({ credits: 7 }));

    expect(await tg.previewCost('content_generation', { quantity: { words: 1200 } })).toMatchObject({ credits: 12, basis: expect.any(String) });
    expect((await tg.usage(owner.tenantId)).usage).toContainEqual(expect.objectContaining({ meter: 'runs', used: 1, limit: 10 }));
    expect((await tg.usageEvents(owner.tenantId)).events).toHaveLength(1);
    expect(await tg.credits(owner.tenantId)).toEqual({ balance: 993, reserved: 0, available: 993 });
    const first = await tg.ledger(owner.tenantId, { limit: 1 });
    const rest = await tg.ledger(owner.tenantId, { cursor: first.nextCursor! });
    expect(first.entries.map((entry) => entry.kind)).toEqual(['settle']);
    expect(rest.entries.map((entry) => entry.kind)).toEqual(['grant']);
  });
});
