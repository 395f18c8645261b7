/**
 * A Bedrock route saved before migration 0030 (`legacyExternalId`) on the routes page:
 * marked, and moved to the tenant's External ID by saving it again. No API call makes such a
 * route, so the server is stopped, the route marked in its database as the migration marked
 * the routes it found (as the server's tests do), and the server started again on the same
 * data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unwrap } from '@tollgate/sdk';
import { startTollgate } from '../../sdk/test/tollgate-server.js';
import {
  PASSWORD, asDatabaseOwner, browserAvailable, client, newPage, operatorClient, screenshot, signInThroughPage, signup, startStage, type Person, type Stage,
} from './browser.js';

const available = browserAvailable();
const ROLE = 'arn:aws:iam::123456789012:role/tollgate-legacy';

describe.skipIf(!available)('a route saved before the tenant\'s External ID, on the routes page', () => {
  let dataDir: string;
  let stage: Stage;
  let owner: Person;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-console-legacy-'));
    const env = { TOLLGATE_DATA_DIR: dataDir };
    const before = await startTollgate(undefined, env);
    try {
      owner = await signup(before, 'Legacy');
      const ops = await operatorClient(before);
      await unwrap(ops.api.PATCH('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId: owner.tenantId } }, body: { plan: 'enterprise' } }));
      for (const [name, own] of [['old-aws', { externalId: 'given-before-0030-WXYZ' }], ['new-aws', {}]] as const) {
        await unwrap(owner.tg.api.PUT('/v1/tenants/{tenantId}/routes/{name}', {
          params: { path: { tenantId: owner.tenantId, name } }, body: { provider: 'bedrock', region: 'eu-central-1', roleArn: ROLE, ...own },
        }));
      }
    } finally {
      await before.stop();
    }
    asDatabaseOwner(dataDir, "UPDATE tenant_routes SET legacy_external_id = true WHERE name = 'old-aws'");
    stage = await startStage(env);
  });

  afterAll(async () => {
    await stage?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(stage.pageErrors.splice(0)).toEqual([]);
  });

  it('is marked, with how to move it; saved again from the page it takes the tenant\'s External ID and the mark goes', async () => {
    const tg = client(stage, { token: owner.accessToken });
    const legacyOf = async () => (await unwrap(tg.api.GET('/v1/tenants/{tenantId}/routes', { params: { path: { tenantId: owner.tenantId } } })))
      .routes.map((r) => [r.name, r.legacyExternalId]);
    expect(await legacyOf()).toEqual([['old-aws', true], ['new-aws', false]]);

    const { page } = await newPage(stage);
    await signInThroughPage(page, owner.email, PASSWORD);
    await page.goto(`/console/tenants/${owner.tenantId}/routes`);
    const routes = page.locator('section[data-section="provider-routes"]');
    const legacy = routes.getByRole('row', { name: /old-aws/ }).locator('.badge-legacy-external-id');
    await legacy.waitFor();
    expect(await routes.getByRole('row', { name: /new-aws/ }).locator('.badge-legacy-external-id').count()).toBe(0);
    const notice = routes.getByTestId('legacy-notice');
    expect(await notice.textContent()).toContain('old-aws');
    expect(await notice.textContent()).not.toContain('new-aws');
    expect(await notice.textContent()).toContain('Saving one again');
    await screenshot(page, '26-owner-routes-legacy');

    await page.getByLabel('Route name').fill('old-aws');
    await page.getByLabel('Region').fill('eu-central-1');
    await page.getByLabel('Role ARN').fill(ROLE);
    await page.getByRole('button', { name: 'Save route', exact: true }).click();
    await notice.waitFor({ state: 'detached' });
    expect(await legacy.count()).toBe(0);
    expect(await legacyOf()).toEqual([['old-aws', false], ['new-aws', false]]);
  });
});
