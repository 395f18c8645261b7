import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot, startTestApp, type TestApp } from '../../../test/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  // Faults are injected with real triggers in the test database, not with mocks: the
  // first fires right after the user row is written, the second at the account's audit
  // entry, the third at the first session's refresh token, the very last step.
  await t.db.asOwner(`
    CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
    CREATE FUNCTION inject_token_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id AND email LIKE 'fail-at-token%') THEN RAISE EXCEPTION 'injected failure'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER inject_after_user BEFORE INSERT ON tenants FOR EACH ROW WHEN (NEW.name = 'fail-after-user') EXECUTE FUNCTION inject_failure();
    CREATE TRIGGER inject_at_audit BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.data->>'email' LIKE 'fail-at-audit%') EXECUTE FUNCTION inject_failure();
    CREATE TRIGGER inject_at_token BEFORE INSERT ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION inject_token_failure();`);
});
afterAll(async () => { await t.close(); });

describe('signup is one transaction', () => {
  it.each([
    ['a failure right after the user insert', { email: 'victim-1@example.com', password: 'long-enough-password', name: 'fail-after-user' }],
    ['a failure at the audit entry', { email: 'fail-at-audit@example.com', password: 'long-enough-password' }],
    ['a failure at the first session\'s refresh token, the last step', { email: 'fail-at-token@example.com', password: 'long-enough-password' }],
  ])('%s leaves no user, tenant, membership, subscription, audit or token row', async (_label, payload) => {
    await t.signup();
    const before = await snapshot(t.db);
    const res = await t.request({ method: 'POST', url: '/v1/signup', payload });
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('INTERNAL');
    expect(await snapshot(t.db)).toEqual(before);
    const users = await t.db.asOwner('SELECT id FROM users WHERE email = $1', [payload.email]);
    expect(users).toEqual([]);
    // and the email is still free: the same signup succeeds once the fault is gone
    const retry = await t.request({ method: 'POST', url: '/v1/signup', payload: { email: payload.email, password: payload.password } });
    if (payload.email.startsWith('fail-at-')) expect(retry.statusCode).toBe(500);
    else expect(retry.statusCode).toBe(201);
  });
});
