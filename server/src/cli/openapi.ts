import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { buildApp } from '../app.js';
import type { Config } from '../config.js';
import { openDatabase } from '../db/client.js';
import { createDeps } from '../deps.js';
import { apiMarkdown } from '../http/api-reference.js';
import { openApiText } from '../http/openapi.js';

/**
 * The OpenAPI document and its Markdown rendering, from the routes themselves: the app is
 * built over a throwaway in-memory database (no storage of the config's is opened, no
 * Redis, no secret read or written).
 */
export async function generateApiDocs(config: Config): Promise<{ json: string; markdown: string }> {
  const database = await openDatabase({ appRole: config.databaseAppRole });
  const deps = await createDeps({ ...config, secretKey: randomBytes(32).toString('base64'), redisUrl: undefined, bootstrapOperator: undefined },
    { database, logger: pino({ level: 'silent' }) });
  try {
    const app = await buildApp(deps);
    const json = openApiText(app);
    await app.close();
    return { json, markdown: apiMarkdown(JSON.parse(json)) };
  } finally {
    await deps.close();
    await database.close();
  }
}
