/**
 * The console's session in Debian's Chromium against a real Tollgate: a refresh that fails
 * before the server used its token keeps the session and is not sent again, and two tabs holding one session (a tab
 * opened from another starts with a copy of its sessionStorage, as a duplicated tab does)
 * refresh without presenting a spent refresh token, which would end the session of both.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Page, Route } from 'playwright-core';
import { unwrap } from '@tollgate/sdk';
import { PASSWORD, browserAvailable, client, newPage, signInThroughPage, signup, startStage, type Stage } from './browser.js';

const available = browserAvailable();
const SESSION_KEY = 'tollgate.console.session';

interface StoredSession { accessToken: string; refreshToken: string; expiresAt: number }

const storedSession = (page: Page) => page.evaluate((key) => JSON.parse(sessionStorage.getItem(key) ?? 'null') as StoredSession | null, SESSION_KEY);

/** Makes the page's access token due: its next call refreshes first. */
const expire = (page: Page) => page.evaluate((key) => {
  const stored = JSON.parse(sessionStorage.getItem(key)!) as StoredSession;
  sessionStorage.setItem(key, JSON.stringify({ ...stored, expiresAt: Date.now() - 1000 }));
}, SESSION_KEY);

/** Reloads the page (its first call, GET /v1/me, needs the token) and says where it ends: home, the sign-in form, or an error. */
async function reloaded(page: Page): Promise<string> {
  await page.reload();
  const home = page.getByRole('heading', { name: 'Your tenants' });
  const signInForm = page.getByRole('button', { name: 'Sign in' });
  const failure = page.getByRole('alert');
  await home.or(signInForm).or(failure).first().waitFor();
  if (await home.count()) return 'signed in';
  if (await signInForm.count()) return 'signed out';
  return `failed: ${await failure.textContent()}`;
}

describe.skipIf(!available)('the console\'s session in Chromium, against a real Tollgate', () => {
  let stage: Stage;

  beforeAll(async () => { stage = await startStage(); });
  afterAll(async () => { await stage?.close(); });
  afterEach(() => { expect(stage.pageErrors.splice(0)).toEqual([]); });

  it('a refresh that gets no answer, or a 503, is sent once and keeps the session: that call fails, the next one refreshes', async () => {
    const person = await signup(stage, 'Grace');
    const { page } = await newPage(stage);
    await signInThroughPage(page, person.email, PASSWORD);
    const signedIn = (await storedSession(page))!;
    const failures: [string, (route: Route) => Promise<void>][] = [
      ['no answer', (route) => route.abort('internetdisconnected')],
      ['503', (route) => route.fulfill({ status: 503, headers: { 'retry-after': '0' }, json: { error: { code: 'DATABASE_UNAVAILABLE', message: 'down', requestId: 'req_test' } } })],
    ];

    for (const [what, fail] of failures) {
      let refreshes = 0;
      await page.route('**/v1/token', (route) => { refreshes++; return fail(route); });
      await expire(page);
      expect(await reloaded(page), what).toMatch(/^failed: /);
      // Sent once, not again: a 503 can follow the server's commit of the refresh, and the
      // token sent again would then be a spent one, which ends the session.
      expect(refreshes, what).toBe(1);
      expect((await storedSession(page))?.refreshToken, what).toBe(signedIn.refreshToken);
      await page.unroute('**/v1/token');
    }
    expect(await reloaded(page)).toBe('signed in');
    expect((await storedSession(page))?.refreshToken).not.toBe(signedIn.refreshToken);
  });

  it('two tabs of one session stay signed in, refreshing both at once and in turn; the session lives on', async () => {
    const person = await signup(stage, 'Ada');
    const { context, page: first } = await newPage(stage);
    await signInThroughPage(first, person.email, PASSWORD);
    const [second] = await Promise.all([context.waitForEvent('page'), first.evaluate(() => { window.open('/console'); })]);
    await second.getByRole('heading', { name: 'Your tenants' }).waitFor();
    expect((await storedSession(second))?.refreshToken).toBe((await storedSession(first))?.refreshToken);

    await Promise.all([expire(first), expire(second)]);
    expect(await Promise.all([reloaded(first), reloaded(second)])).toEqual(['signed in', 'signed in']);
    for (const page of [second, first, second]) {
      await expire(page);
      expect(await reloaded(page)).toBe('signed in');
    }

    const [mine, theirs] = [(await storedSession(first))!, (await storedSession(second))!];
    expect(mine.refreshToken).toBe(theirs.refreshToken);
    const next = await unwrap(client(stage).api.POST('/v1/token', { body: { grantType: 'refresh_token', refreshToken: mine.refreshToken } }));
    expect(next.accessToken).toEqual(expect.any(String));
  });
});
