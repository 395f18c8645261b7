import { describe, expect, it } from 'vitest';
import { anyGlobMatch, globMatch } from './glob.js';

describe('globMatch', () => {
  it('matches provider wildcards and nothing else', () => {
    expect(globMatch('bedrock/*', 'bedrock/claude-sonnet')).toBe(true);
    expect(globMatch('bedrock/*', 'openai/gpt-4o')).toBe(false);
    expect(globMatch('*', 'anything/at/all')).toBe(true);
    expect(globMatch('gpt-4?', 'gpt-4o')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(anyGlobMatch([], 'x')).toBe(false);
  });
});
