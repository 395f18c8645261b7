import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTeam, intoNextSecond, snapshot, startSecondInstance, startTestApp, uniqueEmail, type TestApp } from '../../../test/harness.js';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('signup and /v1/me', () => {
  it('creates user, personal tenant as owner, subscription on the default plan and an audit entry', async () => {
    const alice = await t.signup();
    const me = (await t.request({ method: 'GET', url: '/v1/me', token: alice.accessToken })).json();
    expect(me.user.email).toBe(alice.email);
    expect(me.memberships).toEqual([expect.objectContaining({ tenantId: alice.tenantId, role: 'owner' })]);
    const tenant = (await t.request({ method: 'GET', url: `/v1/tenants/${alice.tenantId}`, token: alice.accessToken })).json();
    expect(tenant).toMatchObject({ id: alice.tenantId, status: 'active', plan: 'free', enterprise: false, subscription: { plan: 'free', status: 'active' } });
    const audit = (await t.request({ method: 'GET', url: `/v1/tenants/${alice.tenantId}/audit`, token: alice.accessToken })).json();
    expect(audit.entries.map((e: { action: string }) => e.action)).toContain('user.signup');
  });

  it('refuses a taken email, whatever its case', async () => {
    const email = uniqueEmail();
    await t.signup(email);
    const res = await t.request({ method: 'POST', url: '/v1/signup', payload: { email: email.toUpperCase(), password: 'another-password' } });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('EMAIL_TAKEN');
  });

  it('rejects a short password with a catalog code', async () => {
    const res = await t.request({ method: 'POST', url: '/v1/signup', payload: { email: uniqueEmail(), password: 'short' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('WEAK_PASSWORD');
  });
});

describe('team tenants, members and roles', () => {
  it('runs the member lifecycle with the last-owner rule', async () => {
    const owner = await t.signup();
    const admin = await t.signup();
    const member = await t.signup();
    const team = (await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name: 'Acme' } }));
    expect(team.statusCode).toBe(201);
    const tenantId = team.json().id;

    for (const [who, role] of [[admin, 'admin'], [member, 'member']] as const) {
      const inv = await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: owner.accessToken, payload: { email: who.email, role } });
      expect(inv.statusCode).toBe(201);
      const accepted = await t.request({ method: 'POST', url: `/v1/invitations/${inv.json().token}/accept`, token: who.accessToken });
      expect(accepted.json()).toEqual({ tenantId, role });
    }
    const members = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/members`, token: member.accessToken })).json().members;
    expect(members.map((m: { role: string }) => m.role).sort()).toEqual(['admin', 'member', 'owner']);

    // a member cannot change roles; an admin cannot grant or touch ownership
    expect((await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${admin.userId}`, token: member.accessToken, payload: { role: 'member' } })).statusCode).toBe(403);
    const adminPromotes = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: admin.accessToken, payload: { role: 'owner' } });
    expect(adminPromotes.json().error.code).toBe('ROLE_NOT_ALLOWED');
    const adminDemotesOwner = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${owner.userId}`, token: admin.accessToken, payload: { role: 'member' } });
    expect(adminDemotesOwner.statusCode).toBe(403);

    // the last owner can neither be demoted nor removed, not even by themselves
    const demoteSelf = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${owner.userId}`, token: owner.accessToken, payload: { role: 'admin' } });
    expect(demoteSelf.statusCode).toBe(409);
    expect(demoteSelf.json().error.code).toBe('LAST_OWNER');
    const leave = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/members/${owner.userId}`, token: owner.accessToken });
    expect(leave.json().error.code).toBe('LAST_OWNER');

    // with a second owner, demotion works and the role is read from the database at once
    expect((await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${admin.userId}`, token: owner.accessToken, payload: { role: 'owner' } })).statusCode).toBe(200);
    expect((await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${owner.userId}`, token: admin.accessToken, payload: { role: 'member' } })).statusCode).toBe(200);
    const nowMember = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/invitations`, token: owner.accessToken });
    expect(nowMember.statusCode).toBe(403);

    // removal: the removed user loses access on the next request
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: admin.accessToken })).statusCode).toBe(204);
    const gone = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}`, token: member.accessToken });
    expect(gone.statusCode).toBe(404);

    const actions = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/audit?limit=200`, token: admin.accessToken })).json().entries.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['tenant.create', 'invitation.create', 'invitation.accept', 'member.role_change', 'member.remove']));
  });

  it('two owners demoting each other at once cannot leave the tenant without an owner', async () => {
    const a = await t.signup();
    const b = await t.signup();
    const tenantId = (await t.request({ method: 'POST', url: '/v1/tenants', token: a.accessToken, payload: { name: 'Duo' } })).json().id;
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: a.accessToken, payload: { email: b.email, role: 'owner' } })).json();
    await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: b.accessToken });
    const results = await Promise.all([
      t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${b.userId}`, token: a.accessToken, payload: { role: 'member' } }),
      t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${a.userId}`, token: b.accessToken, payload: { role: 'member' } }),
    ]);
    const members = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/members`, token: a.accessToken })).json().members;
    expect(members.filter((m: { role: string }) => m.role === 'owner')).toHaveLength(1);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, expect.any(Number)]);
  });
});

describe('invitations', () => {
  it('are single-use, expire, and only the invited email may accept', async () => {
    const owner = await t.signup();
    const invited = await t.signup();
    const stranger = await t.signup();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: invited.email, role: 'member' } })).json();
    const wrong = await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: stranger.accessToken });
    expect(wrong.json().error.code).toBe('INVITATION_EMAIL_MISMATCH');
    // Not a member yet, as this process and another one have it cached; a member at once after accepting, in both.
    const second = await startSecondInstance(t);
    try {
      const tenant = { method: 'GET' as const, url: `/v1/tenants/${owner.tenantId}`, token: invited.accessToken };
      expect([(await t.request(tenant)).statusCode, (await second.request(tenant)).statusCode]).toEqual([404, 404]);
      expect((await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: invited.accessToken })).statusCode).toBe(200);
      expect([(await t.request(tenant)).statusCode, (await second.request(tenant)).statusCode]).toEqual([200, 200]);
    } finally {
      await second.close();
    }
    const again = await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: invited.accessToken });
    expect(again.statusCode).toBe(404);

    const late = await t.signup();
    const inv2 = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: late.email, role: 'member' } })).json();
    t.clock.advance(t.deps.config.file.auth.invitationTtlSeconds * 1000);
    const fresh = (await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: late.email, password: late.password } })).json();
    const expired = await t.request({ method: 'POST', url: `/v1/invitations/${inv2.token}/accept`, token: fresh.accessToken });
    expect(expired.json().error.code).toBe('INVITATION_INVALID');
  });

  it('can be listed and revoked by admins; a revoked one cannot be accepted', async () => {
    const owner = await t.signup();
    const invited = await t.signup();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: invited.email, role: 'admin' } })).json();
    const list = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken })).json();
    expect(list.invitations.map((i: { id: string }) => i.id)).toContain(inv.id);
    expect(JSON.stringify(list)).not.toContain(inv.token);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/invitations/${inv.id}`, token: owner.accessToken })).statusCode).toBe(204);
    expect((await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: invited.accessToken })).statusCode).toBe(404);
  });
});

describe('an invitation is as good as its sender is now', () => {
  it('it grants no more than its sender may grant when it is accepted: nothing once the sender is removed', async () => {
    const owner = await t.signup();
    const coOwner = await t.signup();
    const admin = await t.signup();
    const [toOwner, toAdmin, toMember] = [await t.signup(), await t.signup(), await t.signup()];
    const tenantId = await createTeam(t, owner, [[coOwner, 'owner'], [admin, 'admin']]);
    const invite = async (from: { accessToken: string }, email: string, role: string) =>
      (await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: from.accessToken, payload: { email, role } })).json().token as string;
    const accept = (token: string, who: { accessToken: string }) => t.request({ method: 'POST', url: `/v1/invitations/${token}/accept`, token: who.accessToken });
    const ownership = await invite(coOwner, toOwner.email, 'owner');
    const adminship = await invite(coOwner, toAdmin.email, 'admin');
    const membership = await invite(admin, toMember.email, 'member');
    // The co-owner is made an admin: ownership it offered is no longer its to give; an admin's seat still is.
    expect((await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${coOwner.userId}`, token: owner.accessToken, payload: { role: 'admin' } })).statusCode).toBe(200);
    const refused = await accept(ownership, toOwner);
    expect([refused.statusCode, refused.json().error.code]).toEqual([404, 'INVITATION_INVALID']);
    expect((await accept(adminship, toAdmin)).json()).toMatchObject({ tenantId, role: 'admin' });
    // The admin is removed: what it sent grants nothing.
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/members/${admin.userId}`, token: owner.accessToken })).statusCode).toBe(204);
    expect((await accept(membership, toMember)).json().error.code).toBe('INVITATION_INVALID');
    const members = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/members`, token: owner.accessToken })).json().members as { userId: string; role: string }[];
    expect(members.map((m) => [m.userId, m.role]).sort()).toEqual([[owner.userId, 'owner'], [coOwner.userId, 'admin'], [toAdmin.userId, 'admin']].sort());
  });
});

describe('routes that name no tenant', () => {
  it('a password reset nobody announced signs the user\'s earlier access tokens out on the next request', async () => {
    intoNextSecond(t.clock, 100);
    const user = await t.signup();
    expect((await t.request({ method: 'GET', url: '/v1/me', token: user.accessToken })).statusCode).toBe(200);
    // As another process's reset would, before its notification arrives: the cached state still says nothing.
    // It comes within the second the token was issued.
    t.clock.advance(1);
    await t.db.asOwner('UPDATE users SET sessions_valid_after = $2 WHERE id = $1', [user.userId, t.clock.now()]);
    const calls = [
      { method: 'GET' as const, url: '/v1/me' },
      { method: 'POST' as const, url: '/v1/tenants', payload: { name: 'Team' } },
      { method: 'GET' as const, url: `/v1/tenants/${user.tenantId}` },
    ];
    for (const call of calls) {
      const res = await t.request({ ...call, token: user.accessToken });
      expect([call.url, res.statusCode, res.json().error?.code]).toEqual([call.url, 401, 'UNAUTHENTICATED']);
    }
    const [memberships] = await t.db.asOwner<{ count: string }>('SELECT count(*) FROM memberships WHERE user_id = $1', [user.userId]);
    expect(Number(memberships!.count)).toBe(1); // no team was made
    // A token issued after the reset, in the same second, is honoured.
    t.clock.advance(1);
    const fresh = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } });
    expect((await t.request({ method: 'GET', url: '/v1/me', token: fresh.json().accessToken })).statusCode).toBe(200);
  });


  it('re-read the user in their transaction: a deactivation nobody announced is honoured on the next request', async () => {
    const owner = await t.signup();
    const user = await t.signup();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: user.email, role: 'member' } })).json();
    // The user's token is verified and their state cached.
    expect((await t.request({ method: 'GET', url: '/v1/me', token: user.accessToken })).statusCode).toBe(200);
    // As another process would, before its notification arrives: nothing here evicts the cache.
    await t.db.asOwner("UPDATE users SET status = 'deactivated' WHERE id = $1", [user.userId]);
    const calls = [
      { method: 'GET' as const, url: '/v1/me' },
      { method: 'POST' as const, url: '/v1/tenants', payload: { name: 'Team' } },
      { method: 'POST' as const, url: `/v1/invitations/${inv.token}/accept` },
    ];
    for (const call of calls) {
      const res = await t.request({ ...call, token: user.accessToken });
      expect([call.url, res.statusCode, res.json().error?.code]).toEqual([call.url, 403, 'USER_DEACTIVATED']);
    }
    const [memberships] = await t.db.asOwner<{ count: string }>('SELECT count(*) FROM memberships WHERE user_id = $1', [user.userId]);
    expect(Number(memberships!.count)).toBe(1); // the personal tenant only: no team, no accepted invitation
  });
});

describe('operators', () => {
  it('suspend a tenant: every member is refused on the next request; reactivation restores access', async () => {
    const op = await t.operator();
    const owner = await t.signup();
    const patch = await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { status: 'suspended' } });
    expect(patch.statusCode).toBe(200);
    expect(patch.json().status).toBe('suspended');
    const denied = await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: owner.accessToken });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('TENANT_SUSPENDED');
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { status: 'active', plan: 'pro' } });
    const back = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: owner.accessToken })).json();
    expect(back).toMatchObject({ status: 'active', plan: 'pro' });
    const audit = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/audit`, token: op.accessToken })).json();
    expect(audit.entries.filter((e: { action: string }) => e.action === 'tenant.update')).toHaveLength(2);
  });

  it('five operators suspending a tenant at once: one change, one tenant.update entry, one tenant.suspended event', async () => {
    // On PostgreSQL the five transactions run side by side (PGlite has one connection: there it passes trivially).
    const op = await t.operator();
    const owner = await t.signup();
    const patch = (payload: Record<string, unknown>) => t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload });
    const answers = await Promise.all(Array.from({ length: 5 }, () => patch({ status: 'suspended' })));
    expect(answers.map((a) => [a.statusCode, a.json().status])).toEqual(Array(5).fill([200, 'suspended']));
    const plans = await Promise.all(Array.from({ length: 5 }, () => patch({ plan: 'pro' })));
    expect(plans.map((a) => a.statusCode)).toEqual(Array(5).fill(200));
    const audit = await t.db.asOwner<{ data: Record<string, unknown> }>(`SELECT data FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.update' ORDER BY data->'plan' IS NOT NULL`, [owner.tenantId]);
    expect(audit.map((e) => e.data)).toEqual([{ status: { from: 'active', to: 'suspended' } }, { plan: { from: 'free', to: 'pro' } }]);
    const events = await t.db.asOwner<{ data: Record<string, unknown> }>(`SELECT data FROM webhook_events WHERE tenant_id = $1 AND type = 'tenant.suspended'`, [owner.tenantId]);
    expect(events.map((e) => e.data)).toEqual([{ tenantId: owner.tenantId, reason: 'operator', previousStatus: 'active' }]);
  });

  it('operators patching one tenant at once lose no change, and each audit entry says what its change replaced', async () => {
    // PostgreSQL runs the patches side by side; PGlite, with one connection, one after another (it passes there either way).
    const [op, other] = [await t.operator(), await t.operator()];
    for (let round = 0; round < 8; round++) {
      const owner = await t.signup();
      const patch = (who: { accessToken: string }, payload: Record<string, unknown>) => t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: who.accessToken, payload });
      const answers = await Promise.all([patch(op, { limits: { runs: 500 + round } }), patch(other, { limits: { concurrentRuns: 7 }, enterprise: true }), patch(op, { plan: 'pro' }), patch(other, { plan: 'enterprise' })]);
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
      const [stored] = await t.db.asOwner<{ limits: Record<string, number>; enterprise: boolean }>('SELECT limits, enterprise FROM tenant_overrides WHERE tenant_id = $1', [owner.tenantId]);
      expect([round, stored]).toEqual([round, { limits: { runs: 500 + round, concurrentRuns: 7 }, enterprise: true }]);
      // The plan went free → one → the other: each entry's `from` is the plan its change replaced.
      const plans = (await t.db.asOwner<{ data: { plan?: { from: string; to: string } } }>(`SELECT data FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.update'`, [owner.tenantId]))
        .flatMap((e) => (e.data.plan ? [e.data.plan] : []));
      const first = plans.find((p) => p.from === 'free');
      expect([round, plans.length, first && plans.find((p) => p !== first)?.from]).toEqual([round, 2, first?.to]);
    }
  });

  it('operators setting a user\'s status at once: the audit entries add up to the status the user has', async () => {
    const [op, other] = [await t.operator(), await t.operator()];
    for (let round = 0; round < 8; round++) {
      const user = await t.signup();
      const set = (who: { accessToken: string }, status: string) => t.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: who.accessToken, payload: { status } });
      expect((await set(op, 'deactivated')).statusCode).toBe(200);
      await Promise.all([set(op, 'active'), set(other, 'deactivated')]);
      const [row] = await t.db.asOwner<{ status: string }>('SELECT status FROM users WHERE id = $1', [user.userId]);
      const actions = (await t.db.asOwner<{ action: string }>(`SELECT action FROM audit_log WHERE tenant_id = 'tnt_platform' AND target_id = $1 AND action IN ('user.deactivate', 'user.reactivate')`, [user.userId])).map((a) => a.action);
      const off = actions.filter((a) => a === 'user.deactivate').length - actions.filter((a) => a === 'user.reactivate').length;
      expect([round, row!.status]).toEqual([round, off === 1 ? 'deactivated' : 'active']);
    }
  });

  it('the last active operator cannot be deactivated, by itself or by two operators deactivating each other at once', async () => {
    const alone = await startTestApp();
    try {
      const set = (who: { accessToken: string }, userId: string, status: string) => alone.request({ method: 'PATCH', url: `/v1/admin/users/${userId}`, token: who.accessToken, payload: { status } });
      const first = await alone.operator();
      const before = await snapshot(alone.db);
      const self = await set(first, first.userId, 'deactivated');
      expect([self.statusCode, self.json().error.code]).toEqual([409, 'LAST_OPERATOR']);
      expect(await snapshot(alone.db)).toEqual(before);
      const ops = [first, await alone.operator()];
      // Ten rounds: locked in two orders, one round in three deadlocked on PostgreSQL.
      for (let round = 0; round < 10; round++) {
        const [a, b] = ops as [typeof first, typeof first];
        const answers = await Promise.all([set(a, b.userId, 'deactivated'), set(b, a.userId, 'deactivated')]);
        const operators = await alone.db.asOwner<{ status: string }>('SELECT status FROM users WHERE is_operator ORDER BY id');
        expect([round, operators.filter((o) => o.status === 'active').length]).toEqual([round, 1]);
        // The other is refused: the last operator (409), or signed out by the first's change before it was checked (401/403).
        const codes = answers.map((r) => (r.statusCode === 200 ? 'ok' : r.json().error.code as string));
        expect([round, codes.filter((c) => c === 'ok').length, codes.every((c) => ['ok', 'LAST_OPERATOR', 'UNAUTHENTICATED', 'USER_DEACTIVATED'].includes(c))]).toEqual([round, 1, true]);
        // The one deactivated is reactivated and signs in again (its sessions ended).
        const [kept, off] = answers[0]!.statusCode === 200 ? [a, b] : [b, a];
        expect((await set(kept, off.userId, 'active')).statusCode).toBe(200);
        alone.clock.advance(1000);
        const again = (await alone.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: off.email, password: off.password } })).json();
        ops.splice(0, 2, kept, { ...off, accessToken: again.accessToken });
      }
    } finally {
      await alone.close();
    }
  });

  it('search tenants, reject unknown plans, and are the only ones allowed on /v1/admin', async () => {
    const op = await t.operator();
    const owner = await t.signup();
    const team = (await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name: 'Searchable Widgets' } })).json();
    const found = (await t.request({ method: 'GET', url: '/v1/admin/tenants?query=searchable', token: op.accessToken })).json();
    expect(found.tenants.map((x: { id: string }) => x.id)).toEqual([team.id]);
    const bad = await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${team.id}`, token: op.accessToken, payload: { plan: 'platinum' } });
    expect(bad.json().error.code).toBe('PLAN_NOT_FOUND');
    const notOp = await t.request({ method: 'GET', url: '/v1/admin/tenants', token: owner.accessToken });
    expect(notOp.statusCode).toBe(403);
  });

  it('search tenants by a member\'s email: without case, by a part of it, wildcards literal, each tenant once, pages stable', async () => {
    const op = await t.operator();
    const domain = `acme-${Date.now().toString(36)}.example`;
    // Named at signup: the personal tenants' names say nothing of the emails.
    const person = async (local: string) => {
      const res = await t.request({ method: 'POST', url: '/v1/signup', payload: { email: `${local}@${domain}`, password: 'correct-horse-battery', name: `${local} Person` } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { tenant: { id: string }; accessToken: string };
    };
    const alice = await person('alice');
    const bob = await person('bob');
    const team = (await t.request({ method: 'POST', url: '/v1/tenants', token: alice.accessToken, payload: { name: 'Widgets Team' } })).json();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${team.id}/invitations`, token: alice.accessToken, payload: { email: `bob@${domain}`, role: 'member' } })).json();
    expect((await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: bob.accessToken })).statusCode).toBe(200);
    await t.signup(); // a tenant none of them is in

    const search = async (query: string, more = '') => {
      const res = await t.request({ method: 'GET', url: `/v1/admin/tenants?query=${encodeURIComponent(query)}${more}`, token: op.accessToken });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as { tenants: { id: string }[]; nextCursor: string | null };
    };
    const ids = async (query: string) => (await search(query, '&limit=200')).tenants.map((x) => x.id);
    const sorted = (...list: string[]) => [...list].sort();
    expect(await ids(`alice@${domain}`)).toEqual(sorted(alice.tenant.id, team.id));
    expect(await ids(`ALICE@${domain.toUpperCase()}`)).toEqual(sorted(alice.tenant.id, team.id));
    expect(await ids(`bob@${domain.slice(0, 8)}`)).toEqual(sorted(bob.tenant.id, team.id));
    // Two members match in the team: it is listed once.
    const all = sorted(alice.tenant.id, bob.tenant.id, team.id);
    expect(await ids(`@${domain}`)).toEqual(all);
    // LIKE's wildcards are the characters they are, as in the name's match.
    expect(await ids(`a_ice@${domain}`)).toEqual([]);
    expect(await ids(`%@${domain}`)).toEqual([]);
    // The name and the id match as before.
    expect(await ids('widgets team')).toEqual(expect.arrayContaining([team.id]));
    expect(await ids(team.id)).toEqual([team.id]);
    // A page at a time: every tenant once, in order.
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await search(`@${domain}`, `&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      walked.push(...page.tenants.map((x) => x.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(walked).toEqual(all);
  });

  it('deactivate a user: their token is refused on the next request', async () => {
    const op = await t.operator();
    const user = await t.signup();
    await t.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: op.accessToken, payload: { status: 'deactivated' } });
    const res = await t.request({ method: 'GET', url: '/v1/me', token: user.accessToken });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('USER_DEACTIVATED');
    const login = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } });
    expect(login.statusCode).toBe(403);
  });

  it('deactivation signs the user out everywhere: reactivated, their earlier access and refresh tokens stay dead', async () => {
    const op = await t.operator();
    const user = await t.signup();
    const status = (s: string) => t.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: op.accessToken, payload: { status: s } });
    expect((await status('deactivated')).statusCode).toBe(200);
    expect((await status('active')).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: user.accessToken })).statusCode).toBe(401);
    const refreshed = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: user.refreshToken } });
    expect(refreshed.statusCode).toBe(401);
    // Signing in again works, and that session refreshes.
    intoNextSecond(t.clock, 10);
    const again = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } });
    expect(again.statusCode, again.body).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: again.json().accessToken })).statusCode).toBe(200);
    expect((await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: again.json().refreshToken } })).statusCode).toBe(200);
  });

  it('a sign-in whose password was checked before a deactivation committed gets no session', async () => {
    const op = await t.operator();
    const user = await t.signup();
    // The deactivation lands between the password check and the session's write.
    const auth = t.deps.auth as unknown as { issueTokens: (...args: unknown[]) => Promise<unknown> };
    const issue = auth.issueTokens.bind(auth);
    auth.issueTokens = async (...args) => {
      auth.issueTokens = issue;
      expect((await t.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: op.accessToken, payload: { status: 'deactivated' } })).statusCode).toBe(200);
      return issue(...args);
    };
    const login = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } });
    expect(login.statusCode, login.body).toBe(403);
    expect(login.json().error.code).toBe('USER_DEACTIVATED');
    const [{ n }] = await t.db.asOwner<{ n: string }>('SELECT count(*) AS n FROM refresh_tokens WHERE user_id = $1', [user.userId]) as [{ n: string }];
    expect(Number(n)).toBe(1); // the signup's only
    // The platform's audit log has it (as has the user's personal tenant's).
    const logged = await t.db.asOwner<{ tenant_id: string }>(`SELECT tenant_id FROM audit_log WHERE action = 'user.deactivate' AND target_id = $1 ORDER BY tenant_id`, [user.userId]);
    expect(logged.map((r) => r.tenant_id).sort()).toEqual([user.tenantId, 'tnt_platform'].sort());
  });
});
