import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../src/app.js';
import { apiMarkdown } from '../src/http/api-reference.js';
import { API_TAGS, openApiText } from '../src/http/openapi.js';
import { startTestApp, type TestApp } from './harness.js';

interface Media { schema: unknown; example?: unknown; examples?: Record<string, { value: unknown }> }
interface Operation {
  operationId?: string; summary?: string; tags?: string[]; security?: unknown[];
  requestBody?: { required?: boolean; content: Record<string, Media> };
  responses: Record<string, { description: string; content?: Record<string, Media> }>;
}

let t: TestApp;
let doc: { tags: { name: string }[]; paths: Record<string, Record<string, Operation>> };
beforeAll(async () => {
  t = await startTestApp();
  doc = t.app.swagger() as unknown as typeof doc;
});
afterAll(async () => { await t.close(); });

const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');
const operationOf = (method: string, url: string) => doc.paths[openApiPath(url)]?.[method.toLowerCase()];
const examples = (media: Media | undefined) =>
  media?.example !== undefined ? [media.example] : Object.values(media?.examples ?? {}).map((e) => e.value);

const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));

describe('the OpenAPI document', () => {
  it('names every route with a unique operationId and a summary, in a declared tag', () => {
    const ids = new Map<string, string>();
    const declared = new Set(doc.tags.map((tag) => tag.name));
    for (const route of routeTable(t.app)) {
      const where = `${route.method} ${route.url}`;
      const op = operationOf(route.method, route.url);
      expect(op, `${where} is not in the document`).toBeDefined();
      expect(op!.operationId, `${where} has no operationId (src/http/openapi.ts OPERATION_IDS)`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(ids.get(op!.operationId!), `operationId ${op!.operationId} is used twice`).toBeUndefined();
      ids.set(op!.operationId!, where);
      expect(op!.summary?.length ?? 0, `${where} has no summary`).toBeGreaterThan(10);
      expect(declared.has(op!.tags?.[0] ?? ''), `${where}: tag ${op!.tags?.[0]} is not declared in API_TAGS`).toBe(true);
      if (route.public) expect(op!.security, `${where} needs no credential`).toEqual([]);
      for (const [status, response] of Object.entries(op!.responses)) expect(response.description, `${where} ${status}`).not.toBe('Default Response');
    }
  });

  it('marks a request body required unless the route may go without one', () => {
    const optional = routeTable(t.app).filter((r) => r.optionalBody).map((r) => `${r.method} ${r.url}`);
    expect(optional).toEqual(expect.arrayContaining(['POST /v1/tenants/:tenantId/api-keys/:keyId/rotate', 'POST /v1/tenants/:tenantId/subscription/cancel', 'POST /v1/reservations/:id/settle']));
    for (const route of routeTable(t.app).filter((r) => r.hasBody)) {
      expect([route.method, route.url, operationOf(route.method, route.url)?.requestBody?.required]).toEqual([route.method, route.url, !route.optionalBody]);
    }
  });

  it('lists its tags with the decision first', () => {
    expect(doc.tags.map((tag) => tag.name)).toEqual(API_TAGS.map((tag) => tag.name));
    expect(doc.tags[0]!.name).toBe('decision');
  });

  it('gives the main calls a described answer and examples that their schemas accept', () => {
    const main: [string, string, string][] = [
      ['POST', '/v1/authorize', '200'], ['GET', '/v1/reservations/:id', '200'], ['POST', '/v1/reservations/:id/settle', '200'], ['POST', '/v1/reservations/:id/release', '200'],
      ['POST', '/v1/signup', '201'], ['POST', '/v1/token', '200'],
    ];
    for (const [method, url, status] of main) {
      const op = operationOf(method, url)!;
      const answer = op.responses[status]!;
      expect(answer.description.length, `${url} ${status}`).toBeGreaterThan(30);
      const media = answer.content!['application/json'];
      expect(examples(media), `${url} answer example`).toHaveLength(1);
      for (const example of examples(media)) expect(ajv.validate(media!.schema as object, example), `${url} answer: ${ajv.errorsText()}`).toBe(true);
      const body = op.requestBody?.content['application/json'];
      for (const example of examples(body)) expect(ajv.validate(body!.schema as object, example), `${url} request: ${ajv.errorsText()}`).toBe(true);
      if (method === 'POST' && url !== '/v1/reservations/:id/release') expect(examples(body).length, `${url} request example`).toBeGreaterThan(0);
    }
  });

  it('is checked in as docs/openapi.json and docs/api.md, as the server serves it (npx tollgate openapi --out ../docs/openapi.json --markdown ../docs/api.md)', () => {
    const text = openApiText(t.app);
    expect(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8') === text, 'docs/openapi.json is stale: regenerate it').toBe(true);
    expect(readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8') === apiMarkdown(JSON.parse(text)), 'docs/api.md is stale: regenerate it').toBe(true);
  });
});
