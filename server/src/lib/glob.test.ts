import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anyGlobMatch, globMatch } from './glob.js';

/** What a glob means, as a regular expression (the former implementation): the reference for small inputs. */
function reference(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

describe('globMatch', () => {
  it('matches provider wildcards and nothing else', () => {
    expect(globMatch('bedrock/*', 'bedrock/claude-sonnet')).toBe(true);
    expect(globMatch('bedrock/*', 'openai/gpt-4o')).toBe(false);
    expect(globMatch('*', 'anything/at/all')).toBe(true);
    expect(globMatch('gpt-4?', 'gpt-4o')).toBe(true);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('', '')).toBe(true);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('?', '')).toBe(false);
    expect(anyGlobMatch([], 'x')).toBe(false);
  });

  it('agrees with the regular expression it replaces, on any pattern and value over a small alphabet', () => {
    const text = (chars: string[], max: number) => fc.array(fc.constantFrom(...chars), { maxLength: max }).map((cs) => cs.join(''));
    fc.assert(fc.property(text(['a', 'b', '*', '?', '.', '/'], 8), text(['a', 'b', '.', '/', '\n'], 12), (pattern, value) => {
      expect(globMatch(pattern, value)).toBe(reference(pattern, value));
    }), { numRuns: 5000 });
  });

  it('answers a pattern built to backtrack without backtracking (the regular expression took minutes)', () => {
    // A tenant's route may name such a pattern, and any caller the model it is matched against.
    expect(globMatch('*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(200))).toBe(false);
    expect(globMatch('*a*a*a*a*a*a*a*a*a*a*b', `${'a'.repeat(200)}b`)).toBe(true);
  });
});
