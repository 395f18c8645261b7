import { SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app.js';
import { createDeps } from '../../deps.js';
import { intoNextSecond, snapshot, startTestApp, testConfig, uniqueEmail, type TestApp } from '../../../test/harness.js';
import { startLocalJwks, type LocalJwks } from '../../../test/local-jwks.js';
import pino from 'pino';

const HS_SECRET = 'supabase-style-shared-secret-0123456789abcdef';
let t: TestApp;
let jwks: LocalJwks;
let idpKey: CryptoKey;

beforeAll(async () => {
  // /broken: a provider whose key endpoint fails; /hanging: one that never answers.
  jwks = await startLocalJwks((url, res) => {
    if (url === '/broken') { res.statusCode = 500; res.end('upstream error'); return true; }
    return url === '/hanging';
  });
  idpKey = jwks.privateKey;
  const port = jwks.port;
  t = await startTestApp({
    patch: (file) => {
      file.auth.identityProviders = [
        { name: 'supabase', issuer: 'https://project.supabase.co/auth/v1', audience: 'authenticated', secret: HS_SECRET, jwksTimeoutMs: 5000, claims: { subject: 'sub', email: 'email' }, autoProvision: true },
        { name: 'auth0', issuer: 'https://tenant.auth0.example/', audience: 'tollgate-api', jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`, jwksTimeoutMs: 5000, claims: { subject: 'sub', email: 'email' }, autoProvision: true },
        { name: 'broken', issuer: 'https://broken.example/', audience: 'tollgate-api', jwksUrl: `http://127.0.0.1:${port}/broken`, jwksTimeoutMs: 5000, claims: { subject: 'sub', email: 'email' }, autoProvision: true },
        { name: 'unreachable', issuer: 'https://unreachable.example/', audience: 'tollgate-api', jwksUrl: 'http://127.0.0.1:1/jwks.json', jwksTimeoutMs: 5000, claims: { subject: 'sub', email: 'email' }, autoProvision: true },
        { name: 'hanging', issuer: 'https://hanging.example/', audience: 'tollgate-api', jwksUrl: `http://127.0.0.1:${port}/hanging`, jwksTimeoutMs: 300, claims: { subject: 'sub', email: 'email' }, autoProvision: true },
      ];
    },
  });
});
afterAll(async () => {
  await t.close();
  await jwks.close();
});

const grant = (email: string, password: string) => t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email, password } });

describe('password grant', () => {
  it('issues a token pair for the right password and INVALID_CREDENTIALS otherwise, unknown email alike', async () => {
    const u = await t.signup();
    const ok = await grant(u.email, u.password);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    const wrong = await grant(u.email, 'not-the-password');
    const unknown = await grant(uniqueEmail(), 'not-the-password');
    expect([wrong.statusCode, unknown.statusCode]).toEqual([401, 401]);
    expect(wrong.json().error.code).toBe(unknown.json().error.code);
    expect(wrong.json().error.message).toBe(unknown.json().error.message);
  });
});

describe('password reset', () => {
  it('answers 202 for any email and mails only existing accounts', async () => {
    const before = t.mailer.outbox.length;
    const res = await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: uniqueEmail('nobody') } });
    expect(res.statusCode).toBe(202);
    expect(t.mailer.outbox.length).toBe(before);
  });

  it('uses a one-time, expiring token, then signs out every session', async () => {
    intoNextSecond(t.clock, 100);
    const u = await t.signup();
    expect((await t.request({ method: 'GET', url: '/v1/me', token: u.accessToken })).statusCode).toBe(200); // verified and cached
    // The reset comes within the second its token was issued: that token is signed out too.
    t.clock.advance(200);
    await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: u.email } });
    const mail = t.mailer.outbox.at(-1)!;
    expect(mail.to).toBe(u.email);
    const token = /tgp_[0-9A-Za-z]+/.exec(mail.text)![0];
    const confirm = await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token, password: 'a-brand-new-password' } });
    expect(confirm.statusCode).toBe(202);
    const audited = await t.db.asOwner<{ actor_id: string; data: unknown }>(`SELECT actor_id, data FROM audit_log WHERE tenant_id = $1 AND action = 'user.password_change'`, [u.tenantId]);
    expect(audited).toEqual([{ actor_id: u.userId, data: { source: 'password_reset' } }]);
    expect((await grant(u.email, u.password)).statusCode).toBe(401);
    const signedOut = await t.request({ method: 'GET', url: '/v1/me', token: u.accessToken });
    expect([signedOut.statusCode, signedOut.json().error.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${u.tenantId}`, token: u.accessToken })).statusCode).toBe(401);
    // A route that reads nothing of the user in a transaction: refused by the credential check itself.
    expect((await t.request({ method: 'POST', url: '/v1/costs/preview', token: u.accessToken, payload: { operation: 'clustering' } })).statusCode).toBe(401);
    // A sign-in with the new password comes after the reset, in the same second here.
    t.clock.advance(1);
    const fresh = await grant(u.email, 'a-brand-new-password');
    expect(fresh.statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: fresh.json().accessToken })).statusCode).toBe(200);
    // A spent token is answered as any other (API.md: always 202) and changes nothing.
    const again = await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token, password: 'yet-another-password' } });
    expect(again.statusCode).toBe(202);
    expect((await grant(u.email, 'yet-another-password')).statusCode).toBe(401);
    const refresh = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: u.refreshToken } });
    expect(refresh.statusCode).toBe(401);

    await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: u.email } });
    const late = /tgp_[0-9A-Za-z]+/.exec(t.mailer.outbox.at(-1)!.text)![0];
    t.clock.advance(t.deps.config.file.auth.passwordResetTtlSeconds * 1000);
    const expired = await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token: late, password: 'yet-another-password' } });
    expect(expired.statusCode).toBe(202);
    const made = await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token: 'tgp_made-up', password: 'yet-another-password' } });
    expect(made.statusCode).toBe(202);
    expect((await grant(u.email, 'yet-another-password')).statusCode).toBe(401);
    expect((await grant(u.email, 'a-brand-new-password')).statusCode).toBe(200);
    // A reset done ends those asked for before it: an older mail's token sets nothing.
    await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: u.email } });
    const older = /tgp_[0-9A-Za-z]+/.exec(t.mailer.outbox.at(-1)!.text)![0];
    await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: u.email } });
    const newer = /tgp_[0-9A-Za-z]+/.exec(t.mailer.outbox.at(-1)!.text)![0];
    expect(older).not.toBe(newer);
    expect((await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token: newer, password: 'the-owners-own-password' } })).statusCode).toBe(202);
    expect((await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token: older, password: 'an-intruders-password' } })).statusCode).toBe(202);
    expect((await grant(u.email, 'an-intruders-password')).statusCode).toBe(401);
    t.clock.advance(1);
    expect((await grant(u.email, 'the-owners-own-password')).statusCode).toBe(200);
    // A password too short is refused whatever the token (it tells nothing of one).
    const short = await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token: 'tgp_made-up', password: 'short' } });
    expect([short.statusCode, short.json().error.code]).toEqual([400, 'WEAK_PASSWORD']);
  });
});

describe('a grant racing a password reset', () => {
  it('a refresh and a reset at once: both answered (no deadlock, no 503), and no session outlives the reset', async () => {
    for (let round = 0; round < 5; round++) {
      const u = await t.signup();
      await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: u.email } });
      const token = /tgp_[0-9A-Za-z]+/.exec(t.mailer.outbox.at(-1)!.text)![0];
      const [refreshed, reset] = await Promise.all([
        t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: u.refreshToken } }),
        t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token, password: `a-new-password-${round}` } }),
      ]);
      expect([round, reset.statusCode]).toEqual([round, 202]);
      expect([401, 200]).toContain(refreshed.statusCode);
      if (refreshed.statusCode === 200) {
        const again = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: refreshed.json().refreshToken } });
        expect([round, again.statusCode]).toEqual([round, 401]);
      }
    }
  });

  it('a password or refresh token checked before a reset that committed since gets no session', async () => {
    const u = await t.signup();
    const checkedAt = t.clock.now();
    t.clock.advance(5);
    // The reset commits between the check of the credential and the grant's own transaction.
    await t.db.asOwner('UPDATE users SET sessions_valid_after = $2 WHERE id = $1', [u.userId, t.clock.now()]);
    const count = async () => Number((await t.db.asOwner<{ n: string }>('SELECT count(*) AS n FROM refresh_tokens WHERE user_id = $1', [u.userId]))[0]!.n);
    const before = await count();
    await expect(t.deps.auth.issueTokens(u.userId, undefined, checkedAt)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(await count()).toBe(before);
    // Checked after the reset: granted.
    await expect(t.deps.auth.issueTokens(u.userId, undefined, t.clock.now())).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(await count()).toBe(before + 1);
  });

  it('a reset committing between a grant\'s commit and the signing of its access token signs that token out', async () => {
    const u = await t.signup();
    await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: u.email } });
    const resetToken = /tgp_[0-9A-Za-z]+/.exec(t.mailer.outbox.at(-1)!.text)![0];
    // The gap forced: the signer (AuthService's own, reached past TypeScript's `private`) lets the reset commit first, time moving on.
    const signer = (t.deps.auth as unknown as { tokens: { issue: (userId: string, issuedAt?: Date) => Promise<unknown> } }).tokens;
    const issue = signer.issue.bind(signer);
    signer.issue = async (userId, issuedAt) => {
      signer.issue = issue;
      t.clock.advance(5);
      expect(await t.deps.auth.confirmPasswordReset(resetToken, 'a-password-set-meanwhile')).toBe(true);
      t.clock.advance(5);
      return issue(userId, issuedAt);
    };
    const granted = await grant(u.email, u.password);
    expect(granted.statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: granted.json().accessToken })).statusCode).toBe(401);
  });

  it('an operator\'s access token signed out by a reset nobody announced is refused by operator routes', async () => {
    const op = await t.operator();
    expect((await t.request({ method: 'GET', url: '/v1/admin/tenants', token: op.accessToken })).statusCode).toBe(200);
    t.clock.advance(1000);
    await t.db.asOwner('UPDATE users SET sessions_valid_after = $2 WHERE id = $1', [op.userId, t.clock.now()]);
    const res = await t.request({ method: 'GET', url: '/v1/admin/tenants', token: op.accessToken });
    expect([res.statusCode, res.json().error.code]).toEqual([401, 'UNAUTHENTICATED']);
  });
});

describe('signing keys', () => {
  it('rotate with a grace period: the JWKS keeps the previous key and its tokens verify until grace ends', async () => {
    const op = await t.operator();
    const u = await t.signup();
    const before = (await t.request({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.length;
    const rotated = await t.request({ method: 'POST', url: '/v1/admin/signing-keys/rotate', token: op.accessToken });
    expect(rotated.statusCode).toBe(200);
    const jwks = (await t.request({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    expect(jwks.keys.length).toBe(before + 1);
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toContain(rotated.json().kid);
    expect(jwks.keys.every((k: Record<string, unknown>) => !('d' in k))).toBe(true);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: u.accessToken })).statusCode).toBe(200);
    t.clock.advance(t.deps.config.file.auth.signingKeyGraceSeconds * 1000 + 1000);
    expect((await t.request({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((k: { kid: string }) => k.kid)).toEqual([rotated.json().kid]);
    const oldKid = JSON.parse(Buffer.from(u.accessToken.split('.')[0]!, 'base64url').toString()).kid as string;
    expect(await t.deps.keys.verificationKey(oldKid)).toBeUndefined();
    const audit = await t.db.asOwner(`SELECT actor_id FROM audit_log WHERE action = 'signing_key.rotate' AND target_id = $1`, [rotated.json().kid]);
    expect(audit).toEqual([{ actor_id: op.userId }]);
    const fresh = (await grant(op.email, op.password)).json().accessToken;
    const platform = (await t.request({ method: 'GET', url: '/v1/admin/audit?action=signing_key.rotate', token: fresh })).json();
    expect(platform.entries.map((e: { target: { id: string } }) => e.target.id)).toContain(rotated.json().kid);
  });

  it('a token verified once dies with its key\'s grace, as a token never seen does; none of ours outlives the configured lifetime', async () => {
    const local = await startTestApp({ patch: (file) => { file.auth.signingKeyGraceSeconds = 60; } });
    try {
      const seen = await local.signup();
      const unseen = await local.signup();
      const me = (token: string) => local.request({ method: 'GET', url: '/v1/me', token });
      expect((await me(seen.accessToken)).statusCode).toBe(200);
      await local.deps.keys.rotate();
      local.clock.advance(61_000);
      expect((await me(unseen.accessToken)).statusCode).toBe(401);
      expect((await me(seen.accessToken)).statusCode).toBe(401);
      // Signed with the live key, but for longer than any token of ours lives.
      const { kid, key } = local.deps.keys.signingKey();
      const now = Math.floor(local.clock.now().getTime() / 1000);
      const file = local.deps.config.file;
      const long = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).setIssuer(file.issuer).setAudience(file.audience)
        .setSubject(seen.userId).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + file.auth.accessTokenTtlSeconds + 1).sign(key);
      expect((await me(long)).statusCode).toBe(401);
    } finally {
      await local.close();
    }
  });

  it('a second process sharing the database picks up a rotated key', async () => {
    const other = await createDeps(testConfig(), { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }), mailer: t.mailer });
    const otherApp = await buildApp(other);
    const op = await t.operator();
    t.clock.advance(200);
    await t.request({ method: 'POST', url: '/v1/admin/signing-keys/rotate', token: op.accessToken });
    const u = await t.signup();
    const res = await otherApp.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${u.accessToken}` } });
    expect(res.statusCode).toBe(200);
    // and after its refresh it signs with the new key, not the retired one
    await other.keys.refresh();
    expect(other.keys.signingKey().kid).toBe(t.deps.keys.signingKey().kid);
    await otherApp.close();
    await other.keys.stop();
  });
});

describe('external identity providers', () => {
  const nowSec = () => Math.floor(t.clock.now().getTime() / 1000);

  it('a Supabase-style HS256 token provisions a user with a personal tenant, once', async () => {
    const email = uniqueEmail('supa');
    const token = await new SignJWT({ email, email_verified: true })
      .setProtectedHeader({ alg: 'HS256' }).setIssuer('https://project.supabase.co/auth/v1').setAudience('authenticated')
      .setSubject('supabase-user-1').setIssuedAt(nowSec()).setExpirationTime(nowSec() + 300).sign(new TextEncoder().encode(HS_SECRET));
    const first = (await t.request({ method: 'GET', url: '/v1/me', token })).json();
    expect(first.user.email).toBe(email);
    expect(first.memberships).toEqual([expect.objectContaining({ role: 'owner' })]);
    const second = (await t.request({ method: 'GET', url: '/v1/me', token })).json();
    expect(second.user.id).toBe(first.user.id);
  });

  it('rejects a token signed with the wrong secret, the wrong audience, or an algorithm the provider does not use', async () => {
    const build = (secret: string, aud = 'authenticated', alg = 'HS256') => new SignJWT({ email: uniqueEmail() })
      .setProtectedHeader({ alg }).setIssuer('https://project.supabase.co/auth/v1').setAudience(aud)
      .setSubject('x').setExpirationTime(nowSec() + 300).sign(new TextEncoder().encode(secret));
    expect((await t.request({ method: 'GET', url: '/v1/me', token: await build('a-different-secret-of-enough-length-xx') })).statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: await build(HS_SECRET, 'other') })).statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: await build(HS_SECRET, 'authenticated', 'HS512') })).statusCode).toBe(401);
  });

  it('rejects a provider\'s token issued in the future beyond the leeway', async () => {
    const issued = (iat: number) => new SignJWT({ email: uniqueEmail(), email_verified: true })
      .setProtectedHeader({ alg: 'HS256' }).setIssuer('https://project.supabase.co/auth/v1').setAudience('authenticated')
      .setSubject(`supabase-iat-${iat}`).setIssuedAt(iat).setExpirationTime(nowSec() + 3600 * 48).sign(new TextEncoder().encode(HS_SECRET));
    expect((await t.request({ method: 'GET', url: '/v1/me', token: await issued(nowSec() + 3600 * 24) })).statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: await issued(nowSec() + 5) })).statusCode).toBe(200);
  });

  it('a provider whose keys cannot be fetched is a 503 to try again, not a 401 that signs the user out', async () => {
    for (const issuer of ['https://broken.example/', 'https://unreachable.example/']) {
      const token = await new SignJWT({ email: uniqueEmail() }).setProtectedHeader({ alg: 'RS256', kid: 'idp-1' }).setIssuer(issuer)
        .setAudience('tollgate-api').setSubject('someone').setExpirationTime(nowSec() + 300).sign(idpKey);
      const res = await t.request({ method: 'GET', url: '/v1/me', token });
      expect([res.statusCode, res.json().error.code]).toEqual([503, 'IDENTITY_PROVIDER_UNAVAILABLE']);
    }
  });

  it('a key set that never arrives is a 503 once the provider\'s jwksTimeoutMs passes, not after jose\'s 5 s', async () => {
    const token = await new SignJWT({ email: uniqueEmail() }).setProtectedHeader({ alg: 'RS256', kid: 'idp-1' }).setIssuer('https://hanging.example/')
      .setAudience('tollgate-api').setSubject('someone').setExpirationTime(nowSec() + 300).sign(idpKey);
    const res = await t.request({ method: 'GET', url: '/v1/me', token });
    expect([res.statusCode, res.json().error.code]).toEqual([503, 'IDENTITY_PROVIDER_UNAVAILABLE']);
  }, 3000);

  it('verifies a JWKS provider and will not link an unverified email, nor any email to an account that never verified its own', async () => {
    const existing = await t.signup();
    const sign = (sub: string, email: string, verified: boolean) => new SignJWT({ email, email_verified: verified })
      .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' }).setIssuer('https://tenant.auth0.example/').setAudience('tollgate-api')
      .setSubject(sub).setExpirationTime(nowSec() + 300).sign(idpKey);
    const takeover = await t.request({ method: 'GET', url: '/v1/me', token: await sign('auth0|evil', existing.email, false) });
    expect(takeover.statusCode).toBe(401);
    const unverified = await t.request({ method: 'GET', url: '/v1/me', token: await sign('auth0|real', existing.email, true) });
    expect([unverified.statusCode, unverified.json().error.code]).toEqual([403, 'EMAIL_NOT_VERIFIED']);
    await verifyByReset(t, existing.email);
    const linked = await t.request({ method: 'GET', url: '/v1/me', token: await sign('auth0|real', existing.email, true) });
    expect(linked.json().user.id).toBe(existing.userId);
  });
});

describe('external identity providers without autoProvision', () => {
  it('refuse a first sign-in that would create a user, but link a verified email of an existing account whose email is verified', async () => {
    const local = await startTestApp({
      patch: (file) => {
        file.auth.identityProviders = [{ name: 'closed', issuer: 'https://closed.example/', audience: 'tollgate', secret: HS_SECRET, jwksTimeoutMs: 5000, claims: { subject: 'sub', email: 'email' }, autoProvision: false }];
      },
    });
    try {
      const nowSec = Math.floor(local.clock.now().getTime() / 1000);
      const sign = (sub: string, email: string) => new SignJWT({ email, email_verified: true }).setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://closed.example/').setAudience('tollgate').setSubject(sub).setExpirationTime(nowSec + 300).sign(new TextEncoder().encode(HS_SECRET));
      expect((await local.request({ method: 'GET', url: '/v1/me', token: await sign('new', uniqueEmail()) })).statusCode).toBe(401);
      const existing = await local.signup();
      await verifyByReset(local, existing.email);
      expect((await local.request({ method: 'GET', url: '/v1/me', token: await sign('old', existing.email) })).json().user.id).toBe(existing.userId);
    } finally {
      await local.close();
    }
  });
});

/** A password reset done from the mailbox: it verifies the account's email (users.email_verified_at). */
async function verifyByReset(app: TestApp, email: string): Promise<void> {
  await app.request({ method: 'POST', url: '/v1/password-reset', payload: { email } });
  const token = /tgp_[0-9A-Za-z]+/.exec(app.mailer.outbox.at(-1)!.text)![0];
  expect((await app.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token, password: 'a-password-after-reset' } })).statusCode).toBe(202);
}

describe('bootstrap operator', () => {
  it('is created at boot from the environment, once', async () => {
    const email = uniqueEmail('boot');
    const config = testConfig(undefined, { TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: 'bootstrap-password-1' });
    for (let i = 0; i < 2; i++) {
      await createDeps(config, { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }), mailer: t.mailer });
    }
    const token = (await grant(email, 'bootstrap-password-1')).json().accessToken;
    expect((await t.request({ method: 'GET', url: '/v1/admin/tenants', token })).statusCode).toBe(200);
  });

  it('never promotes an account someone signed up under the email with another password: the start is refused instead', async () => {
    // Signup does not verify the email: whoever registers the address first must not become the operator.
    const squatter = await t.signup(uniqueEmail('boot-squat'), 'squatter-password-1');
    const config = testConfig(undefined, { TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: squatter.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: 'bootstrap-password-1' });
    const before = await snapshot(t.db);
    await expect(createDeps(config, { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }), mailer: t.mailer }))
      .rejects.toThrow(/TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL names a user that exists, whose password is not TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD/);
    expect(await snapshot(t.db)).toEqual(before);
    const token = (await grant(squatter.email, 'squatter-password-1')).json().accessToken;
    expect((await t.request({ method: 'GET', url: '/v1/admin/tenants', token })).statusCode).toBe(403);
    expect((await grant(squatter.email, 'bootstrap-password-1')).statusCode).toBe(401);
  });

  it('promotes an existing user when the password given is theirs; refuses a weak password for a new operator', async () => {
    const user = await t.signup(uniqueEmail('boot-own'), 'own-password-123');
    expect(await t.deps.auth.ensureOperator(user.email, 'own-password-123', 'test')).toEqual({ outcome: 'granted', userId: user.userId });
    expect(await t.deps.auth.ensureOperator(user.email, 'own-password-123', 'test')).toEqual({ outcome: 'already_operator', userId: user.userId });
    const token = (await grant(user.email, 'own-password-123')).json().accessToken;
    expect((await t.request({ method: 'GET', url: '/v1/admin/tenants', token })).statusCode).toBe(200);
    await expect(t.deps.auth.ensureOperator(uniqueEmail('boot-weak'), 'x', 'test')).rejects.toMatchObject({ code: 'WEAK_PASSWORD' });
  });

  it('an account without a password (made by an identity provider) is never promoted', async () => {
    const email = uniqueEmail('boot-idp');
    await t.db.asOwner(`UPDATE users SET password_hash = NULL WHERE id = $1`, [(await t.signup(email, 'idp-password-123')).userId]);
    const { outcome } = await t.deps.auth.ensureOperator(email, 'idp-password-123', 'test');
    expect(outcome).toBe('not_their_password');
    const [row] = await t.db.asOwner<{ is_operator: boolean }>('SELECT is_operator FROM users WHERE email = $1', [email]);
    expect(row!.is_operator).toBe(false);
  });
});
