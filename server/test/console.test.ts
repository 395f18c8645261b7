import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../src/app.js';
import { consoleRoutes } from '../src/http/console.js';
import { registerErrorHandling } from '../src/http/error-handler.js';
import { startTestApp, type TestApp } from './harness.js';
import { removeTempDirs, tempDir } from './temp-dirs.js';

/** The console's files as `vite build` lays them out, in a directory of the test's own. */
function builtConsole(): string {
  const root = tempDir('console');
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="/console/assets/index-abc.js"></script>');
  writeFileSync(join(root, 'assets', 'index-abc.js'), 'console.log("page")');
  return root;
}

async function serving(root: string): Promise<FastifyInstance> {
  const app = Fastify();
  registerErrorHandling(app);
  await app.register(consoleRoutes, { root });
  await app.ready();
  return app;
}

describe('the console\'s files at /console', () => {
  let app: FastifyInstance;
  beforeAll(async () => { app = await serving(builtConsole()); });
  afterAll(async () => { await app.close(); removeTempDirs(); });

  it('serves the page at /console and at every path under it that names no file (the page routes in the browser)', async () => {
    for (const url of ['/console', '/console/', '/console/admin/tenants/tnt_x', '/console/tenants/tnt_x/api-keys?tab=1']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toContain('text/html');
      expect(res.body, url).toContain('<div id="root">');
      expect(res.headers['content-security-policy'], url).toContain("default-src 'self'");
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.headers['cache-control'], url).toBe('no-cache');
    }
  });

  it('serves a built asset with a long cache, and a missing file as the JSON 404, never the page', async () => {
    const asset = await app.inject({ method: 'GET', url: '/console/assets/index-abc.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toContain('javascript');
    expect(asset.headers['cache-control']).toContain('immutable');
    const missing = await app.inject({ method: 'GET', url: '/console/assets/gone-123.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('serves nothing outside its directory', async () => {
    for (const url of ['/console/../package.json', '/console/assets/..%2F..%2Fpackage.json', '/console/%2e%2e/%2e%2e/package.json']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.body, url).not.toContain('"name"');
      expect([200, 400, 403, 404], url).toContain(res.statusCode);
      if (res.statusCode === 200) expect(res.body, url).toContain('<div id="root">');
    }
  });

  it('says how to build it when it was not built', async () => {
    const bare = await serving(tempDir('console-unbuilt'));
    try {
      const res = await bare.inject({ method: 'GET', url: '/console/admin/tenants' });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.message).toContain('npm run build -w console');
    } finally {
      await bare.close();
    }
  });
});

describe('the console in the app', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(async () => { await t.close(); });

  it('is public (the page holds no data) and no API route: out of the route table and the OpenAPI document', async () => {
    const res = await t.request({ method: 'GET', url: '/console/admin/tenants' });
    expect(res.statusCode).not.toBe(401);
    expect(routeTable(t.app).filter((route) => route.url.startsWith('/console'))).toEqual([]);
    const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/console'))).toEqual([]);
  });
});
