/**
 * Debian's Chromium driven by playwright-core, against a real Tollgate (the SDK suite's
 * startTollgate: `tsx src/main.ts serve` on its own PGlite, with a bootstrap operator),
 * which serves the built console at /console as `npm start` does.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Tollgate, unwrap } from '@tollgate/sdk';
import { OPERATOR, startTollgate, type TollgateProcess } from '../../sdk/test/tollgate-server.js';

export { OPERATOR };
export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));
const DIST_INDEX = fileURLToPath(new URL('../dist/index.html', import.meta.url));

/**
 * Whether the suite can run: Chromium is there. Without it the suite is skipped with a
 * message, except in CI (CI=true), where a missing browser fails it (.ci/run installs it).
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `${CHROMIUM} is absent: the console's browser suite needs Debian's chromium (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true, so this fails instead of skipping`);
  console.warn(`\n[console] SKIPPED: ${message}\n`);
  return false;
}

export interface Stage {
  server: TollgateProcess;
  browser: Browser;
  url: string;
  /** Console errors and uncaught page errors seen so far (failed API calls the page shows are not counted). */
  pageErrors: string[];
  close(): Promise<void>;
}

/** The server (with `env` added to its environment) and the browser for a suite. */
export async function startStage(env: Record<string, string> = {}): Promise<Stage> {
  if (!existsSync(DIST_INDEX)) throw new Error('console/dist is not built: run `npm run build -w console` (npm ci does it)');
  mkdirSync(SCREENSHOTS, { recursive: true });
  const server = await startTollgate(undefined, env);
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  const pageErrors: string[] = [];
  return {
    server, browser, url: server.url, pageErrors,
    close: async () => { await browser.close(); await server.stop(); },
  };
}

/** A fresh browser context (its own sessionStorage: a person at another computer) and page, the errors of its pages (a tab it opens too) collected. */
export async function newPage(stage: Stage): Promise<{ context: BrowserContext; page: Page }> {
  const context = await stage.browser.newContext({ baseURL: stage.url, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(10_000);
  context.on('page', (page) => {
    page.on('pageerror', (error) => stage.pageErrors.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // A refused API call is logged by the browser as a failed resource; the page shows it as an error box, which the tests check.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) stage.pageErrors.push(`console: ${message.text()}`);
    });
  });
  return { context, page: await context.newPage() };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.mouse.move(0, 0); // no chart tooltip left open by the last click
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

export async function signInThroughPage(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/console');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** A server of a test: a stage's, or one started alone (startTollgate). */
type Served = Pick<Stage, 'url'>;

/** A client of the stage's server, as a backend or a script would call it. */
export function client(stage: Served, credential: { token?: string; apiKey?: string } = {}): Tollgate {
  return new Tollgate({ baseUrl: stage.url, ...credential });
}

export async function operatorClient(stage: Served): Promise<Tollgate> {
  const grant = await unwrap(client(stage).api.POST('/v1/token', { body: { grantType: 'password', ...OPERATOR } }));
  return client(stage, { token: grant.accessToken });
}

let counter = 0;
export const PASSWORD = 'a-long-password-for-the-console';

export interface Person { userId: string; tenantId: string; email: string; accessToken: string; tg: Tollgate }

export async function signup(stage: Served, tag: string): Promise<Person> {
  const email = `${tag}-${process.pid}-${Date.now().toString(36)}-${counter++}@example.com`;
  const me = await unwrap(client(stage).api.POST('/v1/signup', { body: { email, password: PASSWORD, name: tag } }));
  return { userId: me.user.id, tenantId: me.tenant.id, email, accessToken: me.accessToken, tg: client(stage, { token: me.accessToken }) };
}

const SERVER_DIR = fileURLToPath(new URL('../../server/', import.meta.url));

/**
 * Runs `sql` as the owner of the embedded database in `dataDir` (TOLLGATE_DATA_DIR of a
 * server that has stopped), as the server's tests do with asOwner: for a state no API call
 * makes, such as a row as an older version stored it. In a process of its own, in server/:
 * PGlite is the server's dependency, and the console imports nothing of the server.
 */
export function asDatabaseOwner(dataDir: string, sql: string): void {
  const script = "import { PGlite } from '@electric-sql/pglite'; const db = await PGlite.create({ dataDir: process.argv[1] }); await db.exec(process.argv[2]); await db.close();";
  // pgdata: where the server keeps PGlite's files in its data directory (server/src/db/client.ts).
  execFileSync(process.execPath, ['--input-type=module', '--eval', script, join(dataDir, 'pgdata'), sql], { cwd: SERVER_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
}
