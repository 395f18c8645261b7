/**
 * The console in Debian's Chromium against a real Tollgate: every page renders, every
 * action works end to end (checked through the API, as a script would), screenshots in
 * console/screenshots/. One server and one browser for the file; the tests run in order,
 * as an operator's and an owner's day would.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { TollgateError, unwrap, type Tollgate } from '@tollgate/sdk';
import {
  OPERATOR, PASSWORD, browserAvailable, client, newPage, operatorClient, screenshot, signInThroughPage, signup, startStage, type Person, type Stage,
} from './browser.js';

const available = browserAvailable();
const DAY_MS = 86_400_000;

/** A request the webhook receiver got: its Standard Webhooks headers and its body as sent. */
interface Received { id: string; timestamp: string; signature: string; body: string }

/** The Standard Webhooks signature of `request` under `secret`: HMAC-SHA256 keyed with the secret's bytes (base64 after whsec_), over id.timestamp.body. */
function signature(secret: string, request: Received): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${request.id}.${request.timestamp}.${request.body}`).digest('base64')}`;
}

describe.skipIf(!available)('the console in Chromium, against a real Tollgate', () => {
  let stage: Stage;
  let ops: Tollgate;
  let owner: Person;
  let teamId: string;
  let backend: Tollgate;
  let backendKey: string;
  let opsPage: Page;
  let ownerPage: Page;
  // A webhook receiver on 127.0.0.1 (the test server allows private targets): answers `receiverStatus`, keeps each request.
  let receiver: Server;
  let receiverUrl: string;
  let receiverStatus = 500;
  const received: Received[] = [];

  const section = (page: Page, name: string) => page.locator(`section[data-section="${name}"]`);
  const tenantOf = async (tenantId: string) => unwrap(ops.api.GET('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId } } }));
  const creditsOf = async (tenantId: string) => unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/credits', { params: { path: { tenantId } } }));

  beforeAll(async () => {
    stage = await startStage({ TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true' });
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const header = (name: string) => String(request.headers[name]);
        received.push({ id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature'), body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(receiverStatus).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    ops = await operatorClient(stage);
    owner = await signup(stage, 'Ada');
    teamId = (await unwrap(owner.tg.api.POST('/v1/tenants', { body: { name: 'Acme Team' } }))).id;
    // The owner's backend: an API key of the personal tenant, three runs and one refusal (thinker is not in the free plan).
    const key = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId: owner.tenantId } }, body: { name: 'backend', scopes: ['authorize', 'read'] } }));
    backendKey = key.key;
    backend = client(stage, { apiKey: key.key });
    for (let i = 0; i < 3; i++) await backend.run('clustering', async (run) => run.report({ credits: 4 }));
    expect((await backend.authorize('chat', { model: 'bedrock/claude-haiku' })).code).toBe('NOT_IN_PLAN');
  });

  afterAll(async () => {
    await stage?.close();
    await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
  });

  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') {
      for (const [who, page] of [['operator', opsPage], ['owner', ownerPage]] as const) {
        if (page && !page.isClosed()) await screenshot(page, `failed-${who}-${task.name.slice(0, 40).replace(/\W+/g, '-')}`);
      }
    }
    // No script error and no refused resource (a CSP violation is one) on any page of the test.
    expect(stage.pageErrors.splice(0)).toEqual([]);
  });

  describe('operators', () => {
    it('sign in: a wrong password is refused on the page; the operator lands on the tenant search', async () => {
      ({ page: opsPage } = await newPage(stage));
      await opsPage.goto('/console');
      await opsPage.getByRole('heading', { name: 'Tollgate console' }).waitFor();
      await screenshot(opsPage, '01-sign-in');
      await opsPage.getByLabel('Email').fill(OPERATOR.email);
      await opsPage.getByLabel('Password').fill('not-the-password');
      await opsPage.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => opsPage.getByRole('alert').textContent()).toContain('INVALID_CREDENTIALS');

      await signInThroughPage(opsPage, OPERATOR.email, OPERATOR.password);
      await opsPage.getByRole('heading', { name: 'Tenants' }).waitFor();
      expect(new URL(opsPage.url()).pathname).toBe('/console/admin/tenants');
      expect(await opsPage.locator('header').textContent()).toContain('operator');
    });

    it('tenant search finds a tenant by name and by id, and filters by status', async () => {
      await opsPage.getByLabel('Name, id or member email').fill('Acme Team');
      await opsPage.getByRole('button', { name: 'Search' }).click();
      await expect.poll(() => opsPage.locator('tbody tr').count()).toBe(1);
      await opsPage.getByRole('link', { name: 'Acme Team' }).waitFor();
      expect(new URL(opsPage.url()).search).toBe('?query=Acme+Team');
      await screenshot(opsPage, '02-tenant-search');

      await opsPage.getByLabel('Name, id or member email').fill('');
      await opsPage.getByLabel('Status').selectOption('suspended');
      await opsPage.getByRole('button', { name: 'Search' }).click();
      await opsPage.getByText('No tenant matches.').waitFor();

      await opsPage.getByLabel('Status').selectOption('');
      await opsPage.getByLabel('Name, id or member email').fill(owner.tenantId);
      await opsPage.getByRole('button', { name: 'Search' }).click();
      await opsPage.getByRole('link', { name: 'Ada' }).click();
      await opsPage.getByRole('heading', { name: /^Ada/ }).waitFor();
      expect(new URL(opsPage.url()).pathname).toBe(`/console/admin/tenants/${owner.tenantId}`);
    });

    it('the tenant page shows status, plan, subscription, payments, usage, credits and ledger, API keys, users, decisions and audit', async () => {
      await section(opsPage, 'tenant').getByText('free').first().waitFor();
      expect(await section(opsPage, 'tenant').textContent()).toContain(owner.tenantId);
      const chart = section(opsPage, 'usage-per-day').locator('figure.chart');
      await chart.locator('.recharts-bar-rectangle').first().waitFor();
      const summary = await unwrap(ops.api.GET('/v1/admin/tenants/{tenantId}/usage/summary', { params: { path: { tenantId: owner.tenantId }, query: {} } }));
      // Over every day listed: the calls were made earlier in the suite, perhaps before a UTC midnight.
      const counted = summary.days.reduce((sum, day) => ({
        runs: sum.runs + (day.meters.runs ?? 0), allowed: sum.allowed + day.allowed, notInPlan: sum.notInPlan + (day.denied.NOT_IN_PLAN ?? 0),
      }), { runs: 0, allowed: 0, notInPlan: 0 });
      expect(counted).toEqual({ runs: 3, allowed: 3, notInPlan: 1 });
      expect(Number(await chart.getAttribute('data-total'))).toBe(3); // the runs drawn: the three settled
      await section(opsPage, 'users').getByText(owner.email).waitFor();
      await section(opsPage, 'payments').getByText('No payments.').waitFor();
      expect(await section(opsPage, 'decisions').locator('tbody tr').count()).toBe(4);
      expect(await section(opsPage, 'decisions').textContent()).toContain('NOT_IN_PLAN');
      // How many calls each entry stands for (a denial's counts every one like it).
      const calls = await section(opsPage, 'decisions').locator('tbody tr').evaluateAll((rows) => rows.map((r) => {
        const cells = [...r.querySelectorAll('td')].map((c) => c.textContent);
        const headers = [...r.closest('table')!.querySelectorAll('th')].map((h) => h.textContent);
        return cells[headers.indexOf('Calls')];
      }));
      expect(calls).toEqual(['1', '1', '1', '1']);
      await section(opsPage, 'audit').getByText('api_key.create').waitFor();
      const usage = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/usage', { params: { path: { tenantId: owner.tenantId } } }));
      const runs = usage.usage.find((meter) => meter.meter === 'runs')!;
      const cells = await section(opsPage, 'usage-this-period').getByRole('row', { name: /runs/ }).locator('td').allTextContents();
      expect(cells.slice(0, 4)).toEqual(['runs', String(runs.used), String(runs.limit), String(runs.remaining)]);
      const credits = await creditsOf(owner.tenantId);
      expect(await section(opsPage, 'credits').locator('dd').allTextContents()).toEqual([credits.balance, credits.reserved, credits.available].map(String));
      expect(await section(opsPage, 'ledger').locator('tbody tr').count()).toBe(4); // the grant and three settlements (a hold is not an entry)
      const keyRow = section(opsPage, 'api-keys').getByRole('row', { name: 'backend' });
      expect(await keyRow.textContent()).toContain(backendKey.slice(-4));
      expect(await opsPage.content()).not.toContain(backendKey);
      await screenshot(opsPage, '03-operator-tenant');
    });

    it('suspends a tenant (its keys are refused from the next request) and reactivates it', async () => {
      await opsPage.getByRole('button', { name: 'Suspend', exact: true }).click();
      await opsPage.getByRole('button', { name: 'Reactivate', exact: true }).waitFor();
      expect((await tenantOf(owner.tenantId)).status).toBe('suspended');
      expect((await backend.authorize('clustering')).code).toBe('TENANT_SUSPENDED');
      await screenshot(opsPage, '04-operator-suspended');

      await opsPage.getByRole('button', { name: 'Reactivate', exact: true }).click();
      await opsPage.getByRole('button', { name: 'Suspend', exact: true }).waitFor();
      expect((await tenantOf(owner.tenantId)).status).toBe('active');
      const admitted = await backend.authorize('clustering');
      expect(admitted.allowed).toBe(true);
      await backend.release(admitted.reservation!.id);
    });

    it('sets a trial and ends it', async () => {
      await opsPage.getByLabel('Trial days').fill('21');
      await opsPage.getByRole('button', { name: 'Set trial', exact: true }).click();
      await section(opsPage, 'tenant').locator('.badge-trialing').waitFor();
      const trialing = (await tenantOf(owner.tenantId)).subscription!;
      expect(trialing.status).toBe('trialing');
      expect(Math.abs(new Date(trialing.trialEndsAt!).getTime() - (Date.now() + 21 * DAY_MS))).toBeLessThan(DAY_MS);

      await opsPage.getByRole('button', { name: 'End trial now', exact: true }).click();
      await section(opsPage, 'tenant').locator('.badge-trialing').waitFor({ state: 'detached' });
      const ended = (await tenantOf(owner.tenantId)).subscription!;
      expect(ended.status).toBe('active'); // the free plan has no price: active, not suspended
      expect(await section(opsPage, 'audit').textContent()).toMatch(/trial/);
    });

    it('adjusts credits with a reason: ledgered, and the balance changes by that much', async () => {
      const before = await creditsOf(owner.tenantId);
      await opsPage.getByLabel('Amount (negative').fill('250');
      await opsPage.getByLabel('Reason').fill('goodwill: the outage of 3 December');
      await opsPage.getByRole('button', { name: 'Adjust credits', exact: true }).click();
      await opsPage.getByText(`Balance now ${before.balance + 250}`).waitFor();
      await section(opsPage, 'ledger').getByText('goodwill: the outage of 3 December').waitFor();
      expect((await creditsOf(owner.tenantId)).balance).toBe(before.balance + 250);
      const ledger = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/credits/ledger', { params: { path: { tenantId: owner.tenantId }, query: { limit: 1 } } }));
      expect(ledger.entries[0]).toMatchObject({ kind: 'grant', amount: 250, reason: 'goodwill: the outage of 3 December', actor: { type: 'operator' } });

      await opsPage.getByLabel('Amount (negative').fill('-50');
      await opsPage.getByLabel('Reason').fill('correction');
      await opsPage.getByRole('button', { name: 'Adjust credits', exact: true }).click();
      await opsPage.getByText(`Balance now ${before.balance + 200}`).waitFor();
      expect((await creditsOf(owner.tenantId)).balance).toBe(before.balance + 200);
      const taken = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/credits/ledger', { params: { path: { tenantId: owner.tenantId }, query: { limit: 1 } } }));
      expect(taken.entries[0]).toMatchObject({ amount: -50, reason: 'correction' });
    });

    it('a credit adjustment whose answers were lost, submitted again, is granted once', async () => {
      const before = await creditsOf(owner.tenantId);
      const reason = 'goodwill: asked twice, granted once';
      // Each attempt reaches the server (the first grants), and its answer is lost: the SDK's retries too, then the page shows the error.
      let losing = true;
      const grants = (url: URL) => url.pathname === `/v1/admin/tenants/${owner.tenantId}/credits`;
      await opsPage.route(grants, async (route) => {
        if (!losing || route.request().method() !== 'POST') return route.fallback();
        await route.fetch();
        await route.abort('connectionreset');
      });
      const form = opsPage.locator('form[aria-label="Adjust credits"]');
      await opsPage.getByLabel('Amount (negative').fill('70');
      await opsPage.getByLabel('Reason').fill(reason);
      await opsPage.getByRole('button', { name: 'Adjust credits', exact: true }).click();
      await form.getByRole('alert').waitFor();

      losing = false;
      await opsPage.getByRole('button', { name: 'Adjust credits', exact: true }).click();
      await expect.poll(() => opsPage.getByLabel('Reason').inputValue()).toBe(''); // done: the form is cleared
      await opsPage.unroute(grants);

      const ledger = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/credits/ledger', { params: { path: { tenantId: owner.tenantId }, query: { limit: 5 } } }));
      expect(ledger.entries.filter((entry) => entry.reason === reason).map((entry) => entry.amount)).toEqual([70]);
      expect((await creditsOf(owner.tenantId)).balance).toBe(before.balance + 70);
      await opsPage.getByText(`Balance now ${before.balance + 70}`).waitFor();
    });

    it('confirms the bank transfer a tenant asked for: payment recorded, subscription active on the plan, credits granted', async () => {
      const before = await creditsOf(owner.tenantId);
      const asked = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/subscription/bank-transfer', { params: { path: { tenantId: owner.tenantId } }, body: { plan: 'pro' } }));
      await opsPage.reload();
      const pending = section(opsPage, 'payments').getByRole('row', { name: asked.reference });
      await pending.getByText('pending').waitFor();
      await pending.getByRole('button', { name: 'Confirm…' }).click();
      expect(await opsPage.getByLabel('Transfer id / reference').inputValue()).toBe(asked.reference);
      expect(await opsPage.getByLabel('Amount (minor unit').inputValue()).toBe(String(asked.amount));
      await opsPage.getByLabel('Payer name').fill('Ada Lovelace Ltd');
      await screenshot(opsPage, '05-operator-bank-transfer');
      await opsPage.getByRole('button', { name: 'Confirm bank transfer', exact: true }).click();
      await opsPage.getByText(/recorded; subscription active/).waitFor();

      const payments = await unwrap(ops.api.GET('/v1/admin/tenants/{tenantId}/payments', { params: { path: { tenantId: owner.tenantId } } }));
      expect(payments.payments[0]).toMatchObject({ id: asked.paymentId, status: 'succeeded', payerName: 'Ada Lovelace Ltd', amount: 4900, plan: 'pro' });
      const tenant = await tenantOf(owner.tenantId);
      expect(tenant.plan).toBe('pro');
      expect(tenant.subscription).toMatchObject({ status: 'active', plan: 'pro', paymentMethod: 'bank_transfer' });
      expect((await creditsOf(owner.tenantId)).balance).toBeGreaterThan(before.balance);
      await section(opsPage, 'payments').getByText('succeeded').waitFor();
    });

    it('rejects a transfer a tenant asked for, with a reason', async () => {
      const asked = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/subscription/bank-transfer', { params: { path: { tenantId: teamId } }, body: { plan: 'pro' } }));
      await opsPage.goto(`/console/admin/tenants/${teamId}`);
      const pending = section(opsPage, 'payments').getByRole('row', { name: asked.reference });
      await pending.getByLabel('Reason to reject').fill('no such transfer received');
      await pending.getByRole('button', { name: 'Reject', exact: true }).click();
      await section(opsPage, 'payments').getByText('rejected').waitFor();
      const payments = await unwrap(ops.api.GET('/v1/admin/tenants/{tenantId}/payments', { params: { path: { tenantId: teamId } } }));
      expect(payments.payments[0]).toMatchObject({ id: asked.paymentId, status: 'rejected', reason: 'no such transfer received' });
    });
  });

  describe('owners and admins', () => {
    it('sign in: an owner of two tenants chooses one; the overview shows the tenant, usage this period and per day, and credits', async () => {
      ({ page: ownerPage } = await newPage(stage));
      await signInThroughPage(ownerPage, owner.email, PASSWORD);
      await ownerPage.getByRole('heading', { name: 'Your tenants' }).waitFor();
      expect(await ownerPage.locator('header').textContent()).not.toContain('All tenants');
      await screenshot(ownerPage, '10-owner-home');
      await ownerPage.locator('main').getByRole('link', { name: 'Ada' }).click();
      await ownerPage.getByRole('heading', { name: 'Usage this period' }).waitFor();
      expect(new URL(ownerPage.url()).pathname).toBe(`/console/tenants/${owner.tenantId}/overview`);
      await section(ownerPage, 'tenant').getByText('pro').first().waitFor();
      const runs = section(ownerPage, 'usage-this-period').getByRole('row', { name: /runs/ });
      const usage = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/usage', { params: { path: { tenantId: owner.tenantId } } }));
      expect(await runs.textContent()).toContain(String(usage.usage.find((meter) => meter.meter === 'runs')!.limit));
      const chart = section(ownerPage, 'usage-per-day').locator('figure.chart');
      await chart.locator('.recharts-bar-rectangle').first().waitFor();
      const summary = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/usage/summary', { params: { path: { tenantId: owner.tenantId }, query: {} } }));
      expect(Number(await chart.getAttribute('data-total'))).toBe(summary.days.reduce((n, day) => n + (day.meters.runs ?? 0), 0));
      expect(await chart.locator('.recharts-legend-item-text').allTextContents()).toContain('runs');
      const credits = await creditsOf(owner.tenantId);
      expect(await section(ownerPage, 'credits').textContent()).toContain(String(credits.balance));
      await screenshot(ownerPage, '11-owner-overview');
    });

    it('members and invitations: invite (token shown once), accept, change the role, remove; revoke an invitation', async () => {
      await ownerPage.goto(`/console/tenants/${teamId}/members`);
      await section(ownerPage, 'members').getByText(owner.email).waitFor();
      const invitee = await signup(stage, 'Grace');
      await ownerPage.getByLabel('Email').fill(invitee.email);
      await ownerPage.getByLabel('Role', { exact: true }).selectOption('admin');
      await ownerPage.getByRole('button', { name: 'Invite', exact: true }).click();
      const token = await ownerPage.getByTestId('secret').textContent();
      expect(token).toMatch(/^tgi_/);
      await screenshot(ownerPage, '12-owner-invitation');
      const open = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId: teamId } } }));
      expect(open.invitations).toContainEqual(expect.objectContaining({ email: invitee.email, role: 'admin' }));
      await ownerPage.getByRole('button', { name: 'I have stored it' }).click();
      expect(await ownerPage.getByTestId('secret').count()).toBe(0);

      // The invitee pastes the token on their home page.
      const { page: inviteePage } = await newPage(stage);
      await signInThroughPage(inviteePage, invitee.email, PASSWORD);
      await inviteePage.getByLabel('Invitation token').fill(token!);
      await inviteePage.getByRole('button', { name: 'Accept invitation' }).click();
      await inviteePage.getByRole('heading', { name: 'Acme Team' }).waitFor();
      await inviteePage.close();
      await ownerPage.reload();
      const row = section(ownerPage, 'members').getByRole('row', { name: invitee.email });
      await row.waitFor();
      expect(await row.getByLabel(`Role of ${invitee.email}`).inputValue()).toBe('admin');
      await row.getByLabel(`Role of ${invitee.email}`).selectOption('member');
      await row.getByRole('button', { name: 'Change' }).click();
      await expect.poll(async () => (await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/members', { params: { path: { tenantId: teamId } } })))
        .members.find((m) => m.userId === invitee.userId)?.role).toBe('member');
      await screenshot(ownerPage, '13-owner-members');

      await row.getByRole('button', { name: 'Remove' }).click();
      await row.waitFor({ state: 'detached' });
      const members = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/members', { params: { path: { tenantId: teamId } } }));
      expect(members.members.map((m) => m.userId)).toEqual([owner.userId]);

      const other = `later-${Date.now()}@example.com`;
      await ownerPage.getByLabel('Email').fill(other);
      await ownerPage.getByRole('button', { name: 'Invite', exact: true }).click();
      await ownerPage.getByTestId('secret').waitFor();
      const invitation = section(ownerPage, 'invitations').getByRole('row', { name: other });
      await invitation.getByRole('button', { name: 'Revoke' }).click();
      await invitation.waitFor({ state: 'detached' });
      const left = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId: teamId } } }));
      expect(left.invitations.map((i) => i.email)).not.toContain(other);
    });

    it('API keys: created with the key shown once (and it works), rotated, revoked (and refused)', async () => {
      await ownerPage.getByRole('link', { name: 'API keys' }).click();
      await ownerPage.getByText('No API keys yet.').waitFor();
      await ownerPage.getByLabel('Name').fill('production backend');
      await ownerPage.getByLabel('read').check();
      await ownerPage.getByRole('button', { name: 'Create key', exact: true }).click();
      const key = (await ownerPage.getByTestId('secret').textContent())!;
      expect(key).toMatch(/^tg_/);
      await screenshot(ownerPage, '14-owner-api-key-created');
      const made = client(stage, { apiKey: key });
      expect((await made.authorize('clustering', { tenantId: teamId })).allowed).toBe(true);
      const listed = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId: teamId } } }));
      expect(listed.apiKeys).toEqual([expect.objectContaining({ name: 'production backend', scopes: ['authorize', 'read'], status: 'active' })]);
      expect(JSON.stringify(listed)).not.toContain(key);
      await ownerPage.getByRole('button', { name: 'I have stored it' }).click();
      const row = section(ownerPage, 'api-keys').getByRole('row', { name: 'production backend' });
      expect(await row.textContent()).toContain(key.slice(-4));
      expect(await row.textContent()).not.toContain(key);

      await row.getByRole('button', { name: 'Rotate' }).click();
      const successor = (await ownerPage.getByTestId('secret').textContent())!;
      expect(successor).toMatch(/^tg_/);
      expect(successor).not.toBe(key);
      await ownerPage.getByRole('button', { name: 'I have stored it' }).click();
      const keys = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId: teamId } } }));
      expect(keys.apiKeys.map((k) => k.status).sort()).toEqual(['active', 'rotating']);

      const active = section(ownerPage, 'api-keys').getByRole('row', { name: /active/ });
      await active.getByRole('button', { name: 'Revoke' }).click();
      await section(ownerPage, 'api-keys').locator('.badge-revoked').waitFor();
      const refused = await client(stage, { apiKey: successor }).authorize('clustering').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(TollgateError);
      expect((refused as TollgateError).status).toBe(401);
      await screenshot(ownerPage, '15-owner-api-keys');
    });

    it('module switches: switching a module off refuses its operations; on again admits them', async () => {
      await ownerPage.goto(`/console/tenants/${owner.tenantId}/modules`);
      await ownerPage.getByRole('button', { name: 'Switch writer off' }).click();
      await ownerPage.getByRole('button', { name: 'Switch writer on' }).waitFor();
      const modules = await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/modules', { params: { path: { tenantId: owner.tenantId } } }));
      expect(modules.modules.find((m) => m.module === 'writer')).toMatchObject({ enabled: false, switchedOff: true });
      expect((await backend.authorize('content_generation', { quantity: { words: 100 } })).code).toBe('MODULE_DISABLED');
      await screenshot(ownerPage, '16-owner-modules');

      await ownerPage.getByRole('button', { name: 'Switch writer on' }).click();
      await ownerPage.getByRole('button', { name: 'Switch writer off' }).waitFor();
      const decision = await backend.authorize('content_generation', { quantity: { words: 100 } });
      expect(decision.allowed).toBe(true);
      await backend.release(decision.reservation!.id);
    });

    it('credits and the ledger, and the audit log', async () => {
      await ownerPage.getByRole('link', { name: 'Credits' }).click();
      expect(new URL(ownerPage.url()).pathname).toBe(`/console/tenants/${owner.tenantId}/credits`);
      await section(ownerPage, 'ledger').getByText('goodwill: the outage of 3 December').waitFor();
      const credits = await creditsOf(owner.tenantId);
      expect(await section(ownerPage, 'credits').textContent()).toContain(String(credits.available));
      await screenshot(ownerPage, '17-owner-credits');

      await ownerPage.getByRole('link', { name: 'Audit' }).click();
      await section(ownerPage, 'audit').getByText('module.switch').or(section(ownerPage, 'audit').getByText(/module/)).first().waitFor();
      await screenshot(ownerPage, '18-owner-audit');
    });

    it('provider routes: the tenant\'s External ID shown; refused with NOT_IN_PLAN on a plan without own providers; on enterprise a key route and a Bedrock route without an External ID of its own are added (secrets never shown), taken by decisions, deleted, replaced with one and switched off', async () => {
      const listOf = async () => unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/routes', { params: { path: { tenantId: teamId } } }));
      const routesOf = async () => (await listOf()).routes;
      const openaiKey = 'sk-test-console-0123456789-WXYZ';
      const externalId = 'tollgate-external-id-QRST';
      await ownerPage.goto(`/console/tenants/${teamId}/routes`);
      await ownerPage.getByText('No provider routes yet.').waitFor();
      // The platform's External ID of the tenant, whole: what a role's trust policy must name.
      const tenantExternalId = (await listOf()).externalId;
      expect(tenantExternalId).toMatch(/^tg-[0-9a-f]{32}$/);
      expect(await section(ownerPage, 'provider-routes').getByTestId('tenant-external-id').textContent()).toBe(tenantExternalId);
      expect(await section(ownerPage, 'provider-routes').locator('pre').textContent()).toContain(`"sts:ExternalId": "${tenantExternalId}"`);
      await ownerPage.getByLabel('Route name').fill('own-openai');
      await ownerPage.getByLabel('Provider', { exact: true }).selectOption('openai');
      await ownerPage.getByLabel('API key').fill(openaiKey);
      await ownerPage.getByLabel('Models (globs').fill('openai/*');
      await ownerPage.getByRole('button', { name: 'Save route', exact: true }).click();
      await expect.poll(() => section(ownerPage, 'provider-routes').getByRole('alert').textContent()).toContain('NOT_IN_PLAN');
      await screenshot(ownerPage, '22-owner-routes-not-in-plan');
      expect(await routesOf()).toEqual([]);

      // The operator moves the team to enterprise (byoProvider: true); the same submission now succeeds.
      await unwrap(ops.api.PATCH('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId: teamId } }, body: { plan: 'enterprise' } }));
      await ownerPage.getByRole('button', { name: 'Save route', exact: true }).click();
      const openaiRow = section(ownerPage, 'provider-routes').getByRole('row', { name: /own-openai/ });
      await openaiRow.waitFor();
      expect(await openaiRow.textContent()).toContain('WXYZ');

      await ownerPage.getByLabel('Route name').fill('own-bedrock');
      await ownerPage.getByLabel('Provider', { exact: true }).selectOption('bedrock');
      await ownerPage.getByLabel('Models (globs').fill('bedrock/claude-*');
      await ownerPage.getByLabel('Region').fill('eu-central-1');
      await ownerPage.getByLabel('Role ARN').fill('arn:aws:iam::123456789012:role/tollgate-console');
      // No External ID of its own: STS gets the tenant's alone.
      await ownerPage.getByRole('button', { name: 'Save route', exact: true }).click();
      const bedrockRow = section(ownerPage, 'provider-routes').getByRole('row', { name: /own-bedrock/ });
      await bedrockRow.waitFor();
      expect(await bedrockRow.textContent()).toContain('eu-central-1');
      expect(await bedrockRow.locator('.badge-legacy-external-id').count()).toBe(0);
      await screenshot(ownerPage, '23-owner-routes');

      const routes = await routesOf();
      expect(routes).toEqual([
        expect.objectContaining({ name: 'own-openai', provider: 'openai', models: ['openai/*'], enabled: true, secretLastFour: 'WXYZ' }),
        expect.objectContaining({
          name: 'own-bedrock', provider: 'bedrock', region: 'eu-central-1', roleArn: 'arn:aws:iam::123456789012:role/tollgate-console', models: ['bedrock/claude-*'],
          secretLastFour: null, legacyExternalId: false,
        }),
      ]);
      expect(JSON.stringify(routes)).not.toContain(openaiKey);
      expect(await ownerPage.content()).not.toContain(openaiKey);

      // A decision for a matching model names the route.
      const key = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId: teamId } }, body: { name: 'routing backend', scopes: ['authorize'] } }));
      const teamBackend = client(stage, { apiKey: key.key });
      for (const [model, name, provider] of [['bedrock/claude-haiku', 'own-bedrock', 'bedrock'], ['openai/gpt-4o', 'own-openai', 'openai']] as const) {
        const decision = await teamBackend.authorize('chat', { model, quantity: { inputTokens: 100 } });
        expect(decision.allowed).toBe(true);
        expect(decision.route).toMatchObject({ name, provider, billing: 'tenant' });
        await teamBackend.release(decision.reservation!.id);
      }

      await openaiRow.getByRole('button', { name: 'Delete own-openai' }).click();
      await openaiRow.waitFor({ state: 'detached' });
      expect((await routesOf()).map((r) => r.name)).toEqual(['own-bedrock']);
      const after = await teamBackend.authorize('chat', { model: 'openai/gpt-4o', quantity: { inputTokens: 100 } });
      expect(after.route).toMatchObject({ billing: 'platform' });
      await teamBackend.release(after.reservation!.id);

      // Replaced under the same name with an External ID of its own (appended to the tenant's), switched off: listed as disabled, and no decision takes it.
      await ownerPage.getByLabel('Route name').fill('own-bedrock');
      await ownerPage.getByLabel('Models (globs').fill('bedrock/*');
      await ownerPage.getByLabel('Region').fill('us-east-1');
      await ownerPage.getByLabel('Role ARN').fill('arn:aws:iam::123456789012:role/tollgate-console');
      await ownerPage.getByLabel("Route's own External ID").fill(externalId);
      await ownerPage.getByLabel('Enabled').uncheck();
      await ownerPage.getByRole('button', { name: 'Save route', exact: true }).click();
      await bedrockRow.locator('.badge-disabled').waitFor();
      expect(await bedrockRow.textContent()).toContain('QRST');
      expect(await ownerPage.content()).not.toContain(externalId);
      expect(await routesOf()).toEqual([expect.objectContaining({ name: 'own-bedrock', region: 'us-east-1', models: ['bedrock/*'], enabled: false, secretLastFour: 'QRST' })]);
      const off = await teamBackend.authorize('chat', { model: 'bedrock/claude-haiku', quantity: { inputTokens: 100 } });
      expect(off.route).toMatchObject({ billing: 'platform' });
      await teamBackend.release(off.reservation!.id);
    });

    it('webhooks: created with the secret shown once, its deliveries listed, a failed one retried, deleted', async () => {
      const webhooksOf = async () => (await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/webhooks', { params: { path: { tenantId: teamId } } }))).webhooks;
      await ownerPage.getByRole('link', { name: 'Webhooks' }).click();
      expect(new URL(ownerPage.url()).pathname).toBe(`/console/tenants/${teamId}/webhooks`);
      await ownerPage.getByText('No webhooks yet.').waitFor();
      await ownerPage.getByLabel('URL', { exact: true }).fill(receiverUrl);
      await ownerPage.getByLabel('Description (optional)').fill('ops alerts');
      await ownerPage.getByLabel('api_key.revoked').check();
      await ownerPage.getByLabel('tenant.suspended').check();
      await ownerPage.getByRole('button', { name: 'Create webhook', exact: true }).click();
      const secret = (await ownerPage.getByTestId('secret').textContent())!;
      expect(secret).toMatch(/^whsec_/);
      await screenshot(ownerPage, '24-owner-webhook-created');
      const listed = await webhooksOf();
      expect(listed).toEqual([expect.objectContaining({ url: receiverUrl, events: expect.arrayContaining(['api_key.revoked', 'tenant.suspended']), description: 'ops alerts', status: 'enabled' })]);
      expect(listed[0]!.events).toHaveLength(2);
      expect(JSON.stringify(listed)).not.toContain(secret);
      await ownerPage.getByRole('button', { name: 'I have stored it' }).click();
      expect(await ownerPage.getByTestId('secret').count()).toBe(0);
      await ownerPage.reload();
      const row = section(ownerPage, 'webhooks').getByRole('row', { name: /ops alerts/ });
      await row.waitFor();
      expect(await ownerPage.content()).not.toContain(secret);

      // An event: a key of the team revoked. The receiver first answers 500 (the delivery stays pending), then 204.
      const doomed = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId: teamId } }, body: { name: 'doomed', scopes: ['read'] } }));
      await unwrap(owner.tg.api.DELETE('/v1/tenants/{tenantId}/api-keys/{keyId}', { params: { path: { tenantId: teamId, keyId: doomed.id } } }));
      const deliveriesOf = async () => (await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/webhooks/{id}/deliveries', { params: { path: { tenantId: teamId, id: listed[0]!.id } } }))).deliveries;
      await expect.poll(async () => (await deliveriesOf())[0]?.responseStatus, { timeout: 15_000 }).toBe(500);
      const failed = (await deliveriesOf())[0]!;
      expect(failed).toMatchObject({ eventType: 'api_key.revoked', status: 'pending', attempts: 1 });
      expect(received.map((r) => r.id)).toEqual([failed.eventId]);

      await row.getByRole('button', { name: 'Deliveries' }).click();
      const delivery = section(ownerPage, 'deliveries').getByRole('row', { name: /api_key\.revoked/ });
      await delivery.waitFor();
      expect(await delivery.textContent()).toContain('500');
      await screenshot(ownerPage, '25-owner-webhook-deliveries');

      receiverStatus = 204;
      await delivery.getByRole('button', { name: 'Retry' }).click();
      await expect.poll(async () => (await deliveriesOf())[0]?.status, { timeout: 15_000 }).toBe('succeeded');
      expect(received.map((r) => r.id)).toEqual([failed.eventId, failed.eventId]); // the same webhook-id again
      await section(ownerPage, 'deliveries').getByRole('button', { name: 'Refresh' }).click();
      await delivery.locator('.badge-succeeded').waitFor();
      expect(await delivery.textContent()).toContain('204');

      await row.getByRole('button', { name: 'Delete' }).click();
      await ownerPage.getByText('No webhooks yet.').waitFor();
      expect(await webhooksOf()).toEqual([]);
      expect(await section(ownerPage, 'deliveries').count()).toBe(0);
    });

    it('webhooks: a secret rotated from the page, once confirmed, is shown once and signs the next delivery, the old one beside it until the time shown; never shown again', async () => {
      receiverStatus = 204;
      const created = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/webhooks', {
        params: { path: { tenantId: teamId } }, body: { url: receiverUrl, events: ['api_key.revoked'], description: 'rotating' },
      }));
      const endpoint = async () => (await unwrap(owner.tg.api.GET('/v1/tenants/{tenantId}/webhooks', { params: { path: { tenantId: teamId } } })))
        .webhooks.find((w) => w.id === created.id)!;
      await ownerPage.reload();
      const row = section(ownerPage, 'webhooks').getByRole('row', { name: /rotating/ });
      await row.getByRole('button', { name: 'Rotate secret…' }).click();
      await row.getByRole('button', { name: 'Cancel' }).click();
      await row.getByRole('button', { name: 'Rotate secret…' }).click();
      expect(await row.textContent()).toContain('the current one keeps signing beside it');
      expect((await endpoint()).previousSecretExpiresAt).toBeNull(); // neither asking nor cancelling rotates

      const asked = Date.now();
      await row.getByRole('button', { name: 'Rotate secret', exact: true }).click();
      const secret = (await ownerPage.getByTestId('secret').textContent())!;
      expect(secret).toMatch(/^whsec_/);
      expect(secret).not.toBe(created.secret);
      const until = (await endpoint()).previousSecretExpiresAt!;
      expect(Date.parse(until) - asked).toBeGreaterThan(DAY_MS - 60_000); // the test server's grace: the default, a day
      expect(await section(ownerPage, 'webhooks').getByRole('status').textContent()).toContain(`until ${until.replace('T', ' ').slice(0, 16)} UTC`);
      await screenshot(ownerPage, '27-owner-webhook-secret-rotated');

      // The next delivery: signed with the secret the page showed first, then the old one (the receiver's, until it takes the new one).
      const doomed = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId: teamId } }, body: { name: 'rotation witness', scopes: ['read'] } }));
      const before = received.length;
      await unwrap(owner.tg.api.DELETE('/v1/tenants/{tenantId}/api-keys/{keyId}', { params: { path: { tenantId: teamId, keyId: doomed.id } } }));
      await expect.poll(() => received.length, { timeout: 15_000 }).toBe(before + 1);
      const delivery = received.at(-1)!;
      expect(JSON.parse(delivery.body)).toMatchObject({ type: 'api_key.revoked' });
      expect(delivery.signature.split(' ')).toEqual([signature(secret, delivery), signature(created.secret, delivery)]);

      await ownerPage.getByRole('button', { name: 'I have stored it' }).click();
      await ownerPage.reload();
      await row.getByText('previous secret signs too until').waitFor();
      expect(await ownerPage.getByTestId('secret').count()).toBe(0);
      const content = await ownerPage.content();
      expect(content).not.toContain(secret);
      expect(content).not.toContain(created.secret);

      await row.getByRole('button', { name: 'Delete' }).click();
      await ownerPage.getByText('No webhooks yet.').waitFor();
    });

    it('a link to a page opens it on load; signing out returns to the sign-in page', async () => {
      await ownerPage.goto(`/console/tenants/${teamId}/api-keys`);
      await section(ownerPage, 'api-keys').getByText('production backend').first().waitFor();
      await ownerPage.goto('/console/no/such/page');
      await ownerPage.getByRole('heading', { name: 'Not found' }).waitFor();
      await ownerPage.getByRole('button', { name: 'Sign out' }).click();
      await ownerPage.getByRole('button', { name: 'Sign in' }).waitFor();
      await ownerPage.goto(`/console/tenants/${teamId}/overview`);
      await ownerPage.getByRole('button', { name: 'Sign in' }).waitFor();
    });

    it('an invited member accepts through the invitation link; admin pages show the server\'s refusals; a deactivated user is signed out', async () => {
      const member = await signup(stage, 'Linus');
      const invitation = await unwrap(owner.tg.api.POST('/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId: teamId } }, body: { email: member.email, role: 'member' } }));
      const { page } = await newPage(stage);
      // The link an invitation mail carries: signed out, the sign-in page; signed in, the invitation, accepted with one click.
      await page.goto(`/console/invitations/${invitation.token}`);
      await page.getByLabel('Email').fill(member.email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Invitation' }).waitFor();
      await screenshot(page, '19-member-invitation');
      await page.getByRole('button', { name: 'Accept invitation' }).click();
      await page.getByRole('heading', { name: 'Acme Team' }).waitFor();
      expect(new URL(page.url()).pathname).toBe(`/console/tenants/${teamId}/overview`);
      // A member may not read the usage summary (owner/admin): the chart is drawn from the usage log instead.
      await section(page, 'usage-per-day').locator('figure.chart').waitFor();
      expect(await section(page, 'usage-per-day').getByRole('alert').count()).toBe(0);
      const joined = await unwrap(member.tg.api.GET('/v1/me'));
      expect(joined.memberships).toContainEqual(expect.objectContaining({ tenantId: teamId, role: 'member' }));
      await page.locator('header').getByRole('link', { name: 'Acme Team' }).waitFor();

      await page.goto(`/console/tenants/${teamId}/api-keys`);
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('FORBIDDEN');
      await screenshot(page, '20-member-forbidden');
      for (const [tab, link, name] of [['routes', 'Provider routes', 'provider-routes'], ['webhooks', 'Webhooks', 'webhooks']] as const) {
        await page.getByRole('link', { name: link }).click();
        await expect.poll(() => section(page, name).getByRole('alert').textContent()).toContain('FORBIDDEN');
        expect(new URL(page.url()).pathname).toBe(`/console/tenants/${teamId}/${tab}`);
      }

      // Deactivated by an operator, the member's next call is refused: the console returns to the sign-in page.
      await unwrap(ops.api.PATCH('/v1/admin/users/{userId}', { params: { path: { userId: member.userId } }, body: { status: 'deactivated' } }));
      await page.getByRole('link', { name: 'Usage & overview' }).click();
      await page.getByText('Your session ended (USER_DEACTIVATED)').waitFor();
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      await screenshot(page, '21-session-ended');
    });
  });
});
