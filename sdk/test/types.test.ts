import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_TYPES, renderTypes } from '../scripts/openapi-types.js';
import { url } from './fixtures.js';

describe('the generated types', () => {
  it('are what the server publishes today (else: npm run generate -w sdk)', async () => {
    const document = await (await fetch(`${url()}/openapi.json`)).json();

    const fresh = await renderTypes(document);

    // A message rather than a 4,000-line diff: the fix is one command.
    expect(fresh === readFileSync(GENERATED_TYPES, 'utf8'), 'sdk/src/generated/openapi.ts is stale: run `npm run generate -w sdk` and commit it').toBe(true);
  });
});
