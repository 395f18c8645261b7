/** The operator commands, run as real processes (the `tollgate` bin) against a real server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperatorCli, type CliRun, type OperatorCli } from '../../../test/cli-process.js';
import type { SignedUp, TestApp } from '../../../test/harness.js';

let cli: OperatorCli;
let t: TestApp;

beforeAll(async () => {
  cli = await startOperatorCli();
  t = cli.t;
});
afterAll(async () => { await cli.close(); });

const tollgate = (...args: string[]) => cli.tollgate(...args);
const json = <T = Record<string, unknown>>(...args: string[]) => cli.json<T>(...args);

async function keyOf(owner: SignedUp): Promise<string> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend', scopes: ['authorize', 'read'] } });
  return res.json().key;
}

const authorize = async (key: string, operation = 'clustering') =>
  (await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation } })).json() as { allowed: boolean; code: string };

describe('tollgate tenants', () => {
  it('list finds tenants by name or id, as a table or JSON, a page at a time or --all', async () => {
    const tag = `Acme ${Date.now().toString(36)}`;
    const tenants: string[] = [];
    for (const n of [1, 2, 3]) {
      const owner = await t.signup();
      tenants.push((await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name: `${tag} ${n}` } })).json().id);
      t.clock.advance(1000); // ids and timestamps come from the test's clock: one second apart, they sort
    }

    const table = await tollgate('tenants', 'list', '--query', tag);
    const first = await json<{ tenants: { id: string }[]; nextCursor: string }>('tenants', 'list', '--query', tag, '--limit', '2');
    const rest = await json<{ tenants: { id: string }[]; nextCursor: null }>('tenants', 'list', '--query', tag, '--limit', '2', '--cursor', first.nextCursor);
    const all = await json<{ tenants: { id: string }[]; nextCursor: null }>('tenants', 'list', '--query', tag, '--limit', '1', '--all');
    const paged = await tollgate('tenants', 'list', '--query', tag, '--limit', '2');

    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+PLAN\s+SUBSCRIPTION\s+CREATED$/);
    expect(table.stdout).toMatch(new RegExp(`${tenants[0]}\\s+${tag} 1\\s+active\\s+free\\s+active`));
    expect([...first.tenants, ...rest.tenants].map((tenant) => tenant.id)).toEqual(tenants);
    expect(rest.nextCursor).toBeNull();
    expect(all).toEqual({ tenants: [...first.tenants, ...rest.tenants], nextCursor: null });
    expect(paged.stderr).toMatch(`more: add --cursor ${first.nextCursor}`);
  });

  it('suspend refuses the tenant\'s next decision; reactivate admits again; show and --status see it', async () => {
    const owner = await t.signup();
    const key = await keyOf(owner);
    expect((await authorize(key)).allowed).toBe(true);

    const suspended = await tollgate('tenants', 'suspend', owner.tenantId);
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(suspended.stdout).toMatch(`${owner.tenantId} (${owner.email}) is suspended`);
    expect(await authorize(key)).toMatchObject({ allowed: false, code: 'TENANT_SUSPENDED' });
    expect((await json<{ tenants: { id: string }[] }>('tenants', 'list', '--status', 'suspended', '--all')).tenants.map((tenant) => tenant.id)).toContain(owner.tenantId);
    expect((await tollgate('tenants', 'show', owner.tenantId)).stdout).toMatch(/status:\s+suspended/);

    const reactivated = await json('tenants', 'reactivate', owner.tenantId);
    expect(reactivated).toMatchObject({ id: owner.tenantId, status: 'active' });
    expect((await authorize(key)).allowed).toBe(true);
  });

  it('a tenant\'s name is printed with its control characters written out, never obeyed by the terminal nor forging a line; --json gives it as it is', async () => {
    const owner = await t.signup();
    const tag = `Evil ${Date.now().toString(36)}`;
    // The terminal's title, a link (OSC 8), a carriage return and a line of its own over the table, a C1 CSI clearing the screen.
    const name = `${tag}\u001b]0;pwned\u0007\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\\r\nFAKE\u009b2J`;
    const tenantId = (await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name } })).json().id;

    const listed = await tollgate('tenants', 'list', '--query', tag);
    const shown = await tollgate('tenants', 'show', tenantId);
    const suspended = await tollgate('tenants', 'suspend', tenantId);
    const asJson = await json<{ tenants: { name: string }[] }>('tenants', 'list', '--query', tag);

    // Each line the CLI's own: the name's line break forges none.
    const lines = (run: CliRun) => run.stdout.split('\n').slice(0, -1);
    for (const run of [listed, shown, suspended]) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/\n$/);
      for (const line of lines(run)) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    }
    const written = String.raw`${tag}\x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\click\x1b]8;;\x1b\\x0d\x0aFAKE\x9b2J`;
    expect(lines(listed)).toEqual([expect.stringMatching(/^ID\s+NAME/), expect.stringContaining(`${tenantId}  ${written}  active`)]);
    expect(lines(shown)).toHaveLength(11);
    expect(lines(shown)).toContain(`name:           ${written}`);
    expect(lines(suspended)).toEqual([`${tenantId} (${written}) is suspended`]);
    expect(asJson.tenants.map((tenant) => tenant.name)).toEqual([name]);
  });
});

describe('tollgate credits grant', () => {
  it('grants (and with a negative amount takes) credits, ledgered, audited, once per idempotency key', async () => {
    const owner = await t.signup();

    const granted = await tollgate('credits', 'grant', owner.tenantId, '500', '--reason', 'welcome bonus', '--idempotency-key', 'grant-1');
    t.clock.advance(1000);
    const again = await json<{ replayed: boolean; credits: { balance: number } }>('credits', 'grant', owner.tenantId, '500', '--reason', 'welcome bonus', '--idempotency-key', 'grant-1');
    const taken = await json<{ entry: { amount: number; reason: string }; credits: { balance: number } }>('credits', 'grant', owner.tenantId, '-50', '--reason', 'correction');

    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toBe(`granted 500 credits to ${owner.tenantId}: balance 600, reserved 0, available 600\n`);
    expect(again).toMatchObject({ replayed: true, credits: { balance: 600 } });
    expect(taken).toMatchObject({ entry: { amount: -50, reason: 'correction' }, credits: { balance: 550 } });
    const credits = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json();
    expect(credits.balance).toBe(550);
    const audit = await json<{ entries: { action: string; data: { amount?: number } }[] }>('audit', owner.tenantId, '--action', 'credits.adjust');
    expect(audit.entries.map((entry) => entry.data.amount)).toEqual([-50, 500]);
  });
});

describe('tollgate decisions and audit', () => {
  it('decisions lists a tenant\'s decisions newest first, --denied only the refusals', async () => {
    const owner = await t.signup();
    const key = await keyOf(owner);
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: cli.env.TOLLGATE_TOKEN!, payload: { limits: { runs: 1 } } });
    await authorize(key);
    t.clock.advance(1000);
    // Two refusals of one key in one minute: one entry counting both.
    await authorize(key);
    await authorize(key);
    await t.deps.decisionLog.flush();

    const table = await tollgate('decisions', owner.tenantId);
    const denied = await json<{ decisions: { allowed: boolean; code: string; calls: number }[] }>('decisions', owner.tenantId, '--denied');

    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+ALLOWED\s+CODE\s+CALLS\s+OPERATION\s+CREDITS\s+PRINCIPAL\s+BYPASS\s+ID$/);
    expect(lines.slice(1).map((line) => line.split(/\s{2,}/).slice(2, 4))).toEqual([['LIMIT_EXCEEDED', '2'], ['OK', '1']]);
    expect(denied.decisions.map((decision) => [decision.allowed, decision.code, decision.calls])).toEqual([[false, 'LIMIT_EXCEEDED', 2]]);
    expect((await tollgate('decisions', owner.tenantId, '--allowed', '--denied')).code).toBe(2);
  });

  it('audit shows a tenant\'s entries, and without a tenant the platform-wide ones', async () => {
    const owner = await t.signup();
    t.clock.advance(1000);
    await tollgate('tenants', 'suspend', owner.tenantId);

    const tenant = await tollgate('audit', owner.tenantId);
    const platform = await json<{ entries: { tenantId: string | null }[] }>('audit', '--limit', '5');

    expect(tenant.code, tenant.stderr).toBe(0);
    const actions = tenant.stdout.trim().split('\n').slice(1).map((line) => line.split(/\s{2,}/)[3]);
    expect(actions).toEqual(['tenant.update', 'user.signup']);
    expect(platform.entries.every((entry) => entry.tenantId !== owner.tenantId)).toBe(true);
  });
});
