import { describe, expect, it } from 'vitest';
import { Sealer, UnsealError } from './secrets.js';

describe('Sealer', () => {
  const current = new Sealer('provider-routes', 'master-secret-B');
  const previous = new Sealer('provider-routes', 'master-secret-A');

  it('seals with a random nonce under a key id, and opens only in its own context', () => {
    const a = current.seal('sk-tenant-key-123', 'route:tnt_1:openai');
    const b = current.seal('sk-tenant-key-123', 'route:tnt_1:openai');
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^v2\\.${current.keyId}\\.`));
    expect(a).not.toContain('sk-tenant-key-123');
    expect(current.unseal(a, 'route:tnt_1:openai')).toBe('sk-tenant-key-123');
    // Copied into another tenant's row, it does not open.
    expect(() => current.unseal(a, 'route:tnt_2:openai')).toThrow(UnsealError);
  });

  it('keeps purposes apart: the same master secret derives another key per purpose', () => {
    const other = new Sealer('signing-keys', 'master-secret-B');
    expect(other.keyId).not.toBe(current.keyId);
    expect(() => other.unseal(current.seal('x', 'c'), 'c')).toThrow(UnsealError);
  });

  it('opens what a previous master secret sealed while it is configured as previous, and says it is stale', () => {
    const old = previous.seal('ext-id-123', 'ctx');
    expect(() => current.unseal(old, 'ctx')).toThrow(/neither the current master secret's nor a previous one's/);
    const rotating = new Sealer('provider-routes', 'master-secret-B', ['master-secret-A']);
    expect(rotating.unseal(old, 'ctx')).toBe('ext-id-123');
    expect(rotating.stale(old)).toBe(true);
    expect(rotating.stale(rotating.seal('ext-id-123', 'ctx'))).toBe(false);
  });

  it('refuses an altered value without naming any part of it', () => {
    const sealed = current.seal('secret-value', 'ctx');
    const parts = sealed.split('.');
    parts[4] = Buffer.from('tampered').toString('base64');
    expect(() => current.unseal(parts.join('.'), 'ctx')).toThrow(/altered, or moved from another row/);
    expect(() => current.unseal('garbage', 'ctx')).toThrow(UnsealError);
  });
});
