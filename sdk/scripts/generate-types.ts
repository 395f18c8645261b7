/**
 * `npm run generate -w sdk`: starts the server of this checkout, reads the OpenAPI
 * document it publishes and writes the SDK's types from it (src/generated/openapi.ts).
 * Run it after changing a route's schema; test/types.test.ts fails until you do.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTollgate } from '../test/tollgate-server.js';
import { GENERATED_TYPES, renderTypes } from './openapi-types.js';

const server = await startTollgate();
try {
  const response = await fetch(`${server.url}/openapi.json`);
  if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
  writeFileSync(GENERATED_TYPES, await renderTypes(await response.json()));
  console.log(`wrote ${fileURLToPath(GENERATED_TYPES)}`);
} finally {
  await server.stop();
}
