import { describe, expect, it } from 'vitest';
import { testConfig } from '../../../test/harness.js';
import { PlansService } from '../plans/index.js';
import { quote, type CostRequest } from './cost.js';
import { decisionHash, requestHash } from './service.js';

const plans = new PlansService(testConfig((file) => {
  file.operations.chat = {
    module: 'thinker', meter: 'runs', aliases: ['llm'],
    cost: { type: 'per_token', models: { 'bedrock/claude-haiku*': { inputPer1k: 0.25, outputPer1k: 1.25 }, 'bedrock/*': { inputPer1k: 3, outputPer1k: 15 } }, multiplier: 1.5, minimum: 1 },
  };
}).file);

describe('the cost engine', () => {
  it('prices a call on the tenant\'s own account with the operation\'s ownAccount price, where it has one', () => {
    const own = new PlansService(testConfig((file) => {
      file.operations.summarise = {
        module: 'writer', meter: 'runs',
        cost: { type: 'per_unit', unit: 'words', per: 100, credits: 2, minimum: 1, ownAccount: { type: 'per_unit', unit: 'words', per: 1000, credits: 1, minimum: 1 } },
      };
    }).file);
    const request = { operation: 'summarise', quantity: { words: 2500 } };
    expect(quote(own, request)).toMatchObject({ credits: 50, billing: 'platform', basis: '2 per 100 words (2500), minimum 1' });
    expect(quote(own, request, 'tenant')).toMatchObject({ credits: 3, billing: 'tenant', basis: 'own account: 1 per 1000 words (2500), minimum 1' });
    // Without an ownAccount price, the same price on both accounts.
    expect(quote(own, { operation: 'clustering' }, 'tenant')).toMatchObject({ credits: 10, billing: 'tenant', basis: 'fixed 10' });
  });

  it('charges fixed costs and resolves legacy aliases to the canonical operation', () => {
    expect(quote(plans, { operation: 'clustering' })).toMatchObject({ operation: 'clustering', credits: 10, module: 'planner', meter: 'runs' });
    expect(quote(plans, { operation: 'ideas' })).toMatchObject({ operation: 'idea_generation', credits: 15 });
    expect(quote(plans, { operation: 'images' }).credits).toBe(5);
  });

  it('charges per N units rounded up, never below the minimum', () => {
    const words = (n: number) => quote(plans, { operation: 'content_generation', quantity: { words: n } }).credits;
    expect(words(1200)).toBe(12);
    expect(words(1201)).toBe(13);
    expect(words(1199)).toBe(12);
    expect(words(1)).toBe(1);
    expect(words(0)).toBe(1);
    expect(quote(plans, { operation: 'content_generation' }).credits).toBe(1);
    expect(quote(plans, { operation: 'optimization', quantity: { words: 401 } }).credits).toBe(3);
    expect(quote(plans, { operation: 'content', quantity: { words: 250 } })).toMatchObject({ operation: 'content_generation', credits: 3 });
  });

  it('prices tokens per model glob (first match wins) with the multiplier, rounded up', () => {
    // haiku: (1000 × 0.25 + 1000 × 1.25) / 1000 × 1.5 = 2.25 → 3
    expect(quote(plans, { operation: 'chat', model: 'bedrock/claude-haiku-3', quantity: { inputTokens: 1000, outputTokens: 1000 } }).credits).toBe(3);
    // sonnet via bedrock/*: (2000 × 3 + 100 × 15) / 1000 × 1.5 = 11.25 → 12
    expect(quote(plans, { operation: 'llm', model: 'bedrock/claude-sonnet', quantity: { inputTokens: 2000, outputTokens: 100 } }).credits).toBe(12);
    expect(quote(plans, { operation: 'chat', model: 'bedrock/x', quantity: {} }).credits).toBe(1);
  });

  it('refuses unknown operations and unpriced or missing models with catalog codes', () => {
    expect(() => quote(plans, { operation: 'teleport' })).toThrow(expect.objectContaining({ code: 'OPERATION_NOT_FOUND' }));
    expect(() => quote(plans, { operation: 'chat', model: 'openai/gpt-4o' })).toThrow(expect.objectContaining({ code: 'MODEL_NOT_PRICED' }));
    expect(() => quote(plans, { operation: 'chat' })).toThrow(expect.objectContaining({ code: 'MODEL_NOT_PRICED' }));
  });

  it('refuses a quantity naming a unit the operation is not priced by; a fixed price ignores quantity', () => {
    for (const quantity of [{ word_count: 5000 }, { Words: 5000 }, { words: 5000, pages: 3 }] as Record<string, number>[]) {
      expect(() => quote(plans, { operation: 'content_generation', quantity })).toThrow(expect.objectContaining({ code: 'QUANTITY_NOT_PRICED' }));
    }
    expect(() => quote(plans, { operation: 'chat', model: 'bedrock/claude-haiku-3', quantity: { tokens: 1000 } })).toThrow(expect.objectContaining({ code: 'QUANTITY_NOT_PRICED' }));
    expect(quote(plans, { operation: 'clustering', quantity: { words: 99999 } }).credits).toBe(10);
  });

  it('refuses a quantity whose price cannot be counted exactly (past 2^53 credits) (VALIDATION_FAILED, a 400), at the largest quantity the schema allows', () => {
    const dear = new PlansService(testConfig((file) => {
      file.operations.render = { module: 'writer', meter: 'runs', cost: { type: 'per_unit', unit: 'frames', per: 1, credits: 10_000_000, minimum: 1 } };
      file.operations.think = { module: 'thinker', meter: 'runs', cost: { type: 'per_token', models: { '*': { inputPer1k: 10_000_000_000, outputPer1k: 1 } }, minimum: 1 } };
    }).file);
    expect(quote(dear, { operation: 'render', quantity: { frames: 900_719_925 } }).credits).toBe(9_007_199_250_000_000);
    const past: CostRequest[] = [{ operation: 'render', quantity: { frames: 1e12 } }, { operation: 'think', model: 'm', quantity: { inputTokens: 1e12 } }];
    for (const request of past) {
      expect(() => quote(dear, request)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
      // A settlement's charge is capped at what was held first: it is charged that, not refused.
      expect(quote(dear, request, 'platform', { atMost: 500 }).credits).toBe(500);
    }
  });
});

describe('fingerprints', () => {
  it('a decision\'s fingerprint is requestHash\'s, remembered or not, and the keys\' order does not count', () => {
    const parts = { operation: 'clustering', module: 'planner', model: null, quantity: { tokens: 3 } };
    const expected = requestHash(parts);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
    // Twice: computed, then remembered.
    expect(decisionHash(parts)).toBe(expected);
    expect(decisionHash({ quantity: { tokens: 3 }, model: null, module: 'planner', operation: 'clustering' })).toBe(expected);
    expect(decisionHash({ ...parts, operation: 'other' })).not.toBe(expected);
  });
});
