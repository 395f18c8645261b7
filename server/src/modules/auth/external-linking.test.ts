import { SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, uniqueEmail, type TestApp } from '../../../test/harness.js';
import { startLocalJwks, type LocalJwks } from '../../../test/local-jwks.js';

// Account pre-hijacking: an account made with someone else's email (a signup, or a
// provider's unverified claim) must never receive that person's provider sign-ins.
let t: TestApp;
let jwks: LocalJwks;
let idpKey: CryptoKey;
const ISSUER = 'https://tenant.auth0.example/';

beforeAll(async () => {
  jwks = await startLocalJwks();
  idpKey = jwks.privateKey;
  t = await startTestApp({
    patch: (file) => {
      file.auth.identityProviders = [
        { name: 'auth0', issuer: ISSUER, audience: 'tollgate-api', jwksUrl: `http://127.0.0.1:${jwks.port}/.well-known/jwks.json`, jwksTimeoutMs: 5000, claims: { subject: 'sub', email: 'email' }, autoProvision: true },
      ];
    },
  });
});
afterAll(async () => {
  await t.close();
  await jwks.close();
});

const idpToken = (sub: string, email: string, verified: boolean) => {
  const now = Math.floor(t.clock.now().getTime() / 1000);
  return new SignJWT({ email, email_verified: verified }).setProtectedHeader({ alg: 'RS256', kid: 'idp-1' }).setIssuer(ISSUER)
    .setAudience('tollgate-api').setSubject(sub).setIssuedAt(now).setExpirationTime(now + 300).sign(idpKey);
};
const me = async (token: string) => t.request({ method: 'GET', url: '/v1/me', token });
const codeOf = (res: { statusCode: number; json: () => { error?: { code: string } } }) => [res.statusCode, res.json().error?.code];
const usersOf = (email: string) => t.db.asOwner<{ id: string; verified: boolean }>(
  'SELECT id, email_verified_at IS NOT NULL AS verified FROM users WHERE lower(email) = lower($1)', [email]);
const linksOf = (subject: string) => t.db.asOwner<{ user_id: string }>("SELECT user_id FROM external_identities WHERE provider = 'auth0' AND subject = $1", [subject]);

/** The victim's password reset, done from their mailbox. */
async function resetFromMailbox(email: string, password: string): Promise<void> {
  await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email } });
  const mail = t.mailer.outbox.at(-1)!;
  expect(mail.to).toBe(email);
  const token = /tgp_[0-9A-Za-z]+/.exec(mail.text)![0];
  expect((await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { token, password } })).statusCode).toBe(202);
  t.clock.advance(1);
}

describe('a provider\'s unverified email', () => {
  it('provisions nothing: the owner of the address, signing in verified later, gets an account of their own', async () => {
    const victim = uniqueEmail('victim');
    const attacker = await idpToken('attacker-sub', victim, false);
    expect(codeOf(await me(attacker))).toEqual([401, 'UNAUTHENTICATED']);
    expect(await usersOf(victim)).toEqual([]);
    expect(await linksOf('attacker-sub')).toEqual([]);

    const own = await idpToken('victim-sub', victim, true);
    const signedIn = await me(own);
    expect(signedIn.statusCode).toBe(200);
    const team = await t.request({ method: 'POST', url: '/v1/tenants', token: own, payload: { name: 'Victim Co' } });
    expect(team.statusCode).toBe(201);
    // The attacker's token is still nobody, also now that an account of that email exists.
    expect(codeOf(await me(attacker))).toEqual([401, 'UNAUTHENTICATED']);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${team.json().id}/members`, token: attacker })).statusCode).toBe(401);
    expect(await linksOf('attacker-sub')).toEqual([]);
  });

  it('a verified one provisions a user whose email is verified', async () => {
    const email = uniqueEmail('fresh');
    const res = await me(await idpToken('fresh-sub', email, true));
    expect(res.statusCode).toBe(200);
    expect(await usersOf(email)).toEqual([{ id: res.json().user.id, verified: true }]);
  });
});

describe('an account whose email was never verified', () => {
  it('made by a signup with someone else\'s email: the owner\'s verified sign-in is refused and links nothing, until the owner resets the password', async () => {
    const victim = uniqueEmail('victim');
    const attacker = await t.signup(victim, 'attackers-password-P');
    const own = await idpToken('victim-sub-b', victim, true);
    const refused = await me(own);
    expect(codeOf(refused)).toEqual([403, 'EMAIL_NOT_VERIFIED']);
    expect(refused.json().error.message).toMatch(/reset/);
    expect(await linksOf('victim-sub-b')).toEqual([]);
    expect((await me(attacker.accessToken)).json().memberships).toEqual([expect.objectContaining({ tenantId: attacker.tenantId, role: 'owner' })]);

    // The reset mail reaches the owner of the address: the account is theirs from now on.
    t.clock.advance(5);
    await resetFromMailbox(victim, 'the-victims-own-password');
    const linked = await me(own);
    expect(linked.json().user.id).toBe(attacker.userId);
    const team = await t.request({ method: 'POST', url: '/v1/tenants', token: own, payload: { name: 'Victim Co' } });
    expect(team.statusCode).toBe(201);
    expect((await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: victim, password: 'attackers-password-P' } })).statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${team.json().id}/members`, token: attacker.accessToken })).statusCode).toBe(401);
  });

  it('an invitation accepted proves nothing of the address: its token was the sender\'s to give', async () => {
    const victim = uniqueEmail('victim');
    const accomplice = await t.signup();
    const invited = await t.request({ method: 'POST', url: `/v1/tenants/${accomplice.tenantId}/invitations`, token: accomplice.accessToken, payload: { email: victim, role: 'member' } });
    expect(invited.statusCode).toBe(201);
    const attacker = await t.signup(victim, 'attackers-password-P');
    expect((await t.request({ method: 'POST', url: `/v1/invitations/${invited.json().token}/accept`, token: attacker.accessToken })).statusCode).toBe(200);
    expect(await usersOf(victim)).toEqual([{ id: attacker.userId, verified: false }]);
    expect(codeOf(await me(await idpToken('victim-sub-c', victim, true)))).toEqual([403, 'EMAIL_NOT_VERIFIED']);
    expect(await linksOf('victim-sub-c')).toEqual([]);
  });
});

describe('linking a verified sign-in to an account whose email is verified', () => {
  it('a user who signed up and completed a password reset is linked', async () => {
    const u = await t.signup();
    await resetFromMailbox(u.email, 'a-password-after-reset');
    expect(await usersOf(u.email)).toEqual([{ id: u.userId, verified: true }]);
    expect((await me(await idpToken('reset-sub', u.email.toUpperCase(), true))).json().user.id).toBe(u.userId);
    expect(await linksOf('reset-sub')).toEqual([{ user_id: u.userId }]);
  });

  it('a user invited by email who signed in through the provider accepts, and later sign-ins find the same user', async () => {
    const owner = await t.signup();
    const email = uniqueEmail('invitee');
    const invited = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email, role: 'member' } });
    const token = await idpToken('invitee-sub', email, true);
    const first = await me(token);
    expect((await t.request({ method: 'POST', url: `/v1/invitations/${invited.json().token}/accept`, token })).statusCode).toBe(200);
    const again = await me(await idpToken('invitee-sub', email, true));
    expect(again.json().user.id).toBe(first.json().user.id);
    expect(again.json().memberships).toContainEqual(expect.objectContaining({ tenantId: owner.tenantId, role: 'member' }));
  });

  it('a link made before keeps working whatever the account\'s email (lookup by provider and subject)', async () => {
    const u = await t.signup();
    await resetFromMailbox(u.email, 'a-password-after-reset');
    expect((await me(await idpToken('old-link-sub', u.email, true))).json().user.id).toBe(u.userId);
    // As a row migrated by 0028 stands: unknown.
    await t.db.asOwner('UPDATE users SET email_verified_at = NULL WHERE id = $1', [u.userId]);
    t.clock.advance(1000);
    expect((await me(await idpToken('old-link-sub', u.email, false))).json().user.id).toBe(u.userId);
  });
});
