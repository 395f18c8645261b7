import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { IAT_LEEWAY_SECONDS } from './tokens.js';

let t: TestApp;
let user: SignedUp;
let jkuHits = 0;
let jkuServer: Server;
let jkuUrl: string;

beforeAll(async () => {
  t = await startTestApp();
  user = await t.signup();
  jkuServer = createServer((_req, res) => { jkuHits++; res.end('{"keys":[]}'); });
  await new Promise<void>((resolve) => jkuServer.listen(0, '127.0.0.1', resolve));
  jkuUrl = `http://127.0.0.1:${(jkuServer.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await t.close();
  await new Promise((resolve) => jkuServer.close(resolve));
});

const me = (token: string) => t.request({ method: 'GET', url: '/v1/me', token });
const nowSec = () => Math.floor(t.clock.now().getTime() / 1000);
const file = () => t.deps.config.file;

/** A token signed with the server's real active key, with any claims and headers. */
async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const { kid, key } = t.deps.keys.signingKey();
  return new SignJWT({ iss: file().issuer, aud: file().audience, sub: user.userId, iat: nowSec(), nbf: nowSec(), exp: nowSec() + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt', ...header })
    .sign(key);
}

describe('Tollgate access tokens', () => {
  it('a well-formed token of our own is accepted (control)', async () => {
    expect((await me(await forge({}))).statusCode).toBe(200);
    expect((await me(user.accessToken)).statusCode).toBe(200);
  });

  it('alg: none is rejected', async () => {
    const { kid } = t.deps.keys.signingKey();
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid }));
    const payload = base64url.encode(JSON.stringify({ iss: file().issuer, aud: file().audience, sub: user.userId, iat: nowSec(), nbf: nowSec(), exp: nowSec() + 600 }));
    const res = await me(`${header}.${payload}.`);
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('UNAUTHENTICATED');
  });

  it('HS256 signed with our public key is rejected', async () => {
    const { kid } = t.deps.keys.signingKey();
    const jwks = t.deps.keys.jwks();
    const publicJwk = jwks.keys.find((k) => k.kid === kid)!;
    for (const secret of [JSON.stringify(publicJwk), `${publicJwk.x}${publicJwk.y}`]) {
      const token = await new SignJWT({ sub: user.userId, iss: file().issuer, aud: file().audience, iat: nowSec(), nbf: nowSec(), exp: nowSec() + 600 })
        .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' }).sign(new TextEncoder().encode(secret));
      expect((await me(token)).statusCode).toBe(401);
    }
  });

  it('expired tokens are rejected, exp == now included', async () => {
    expect((await me(await forge({ exp: nowSec() }))).statusCode).toBe(401);
    expect((await me(await forge({ exp: nowSec() - 1 }))).statusCode).toBe(401);
    const token = await forge({ exp: nowSec() + 5 });
    t.clock.advance(5000);
    expect((await me(token)).statusCode).toBe(401);
  });

  it('a future nbf is rejected', async () => {
    expect((await me(await forge({ nbf: nowSec() + 60 }))).statusCode).toBe(401);
  });

  it('an iat in the future beyond the leeway is rejected; within it (clock drift) accepted', async () => {
    expect((await me(await forge({ iat: nowSec() + IAT_LEEWAY_SECONDS + 2 }))).statusCode).toBe(401);
    expect((await me(await forge({ iat: nowSec() + 3600 * 24 * 365 }))).statusCode).toBe(401);
    expect((await me(await forge({ iat: nowSec() + IAT_LEEWAY_SECONDS - 2 }))).statusCode).toBe(200);
  });

  it('wrong issuer or audience is rejected', async () => {
    expect((await me(await forge({ iss: 'https://evil.example' }))).statusCode).toBe(401);
    expect((await me(await forge({ aud: 'another-service' }))).statusCode).toBe(401);
  });

  it('missing exp or nbf, or a token of another type, is rejected', async () => {
    expect((await me(await forge({ exp: undefined }))).statusCode).toBe(401);
    expect((await me(await forge({ nbf: undefined }))).statusCode).toBe(401);
    expect((await me(await forge({}, { typ: 'JWT' }))).statusCode).toBe(401);
  });

  it('an unknown kid is rejected, also when signed by a real ES256 key', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: user.userId, iss: file().issuer, aud: file().audience, iat: nowSec(), nbf: nowSec(), exp: nowSec() + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'kid_01ATTACKER000000000000000', typ: 'at+jwt' }).sign(privateKey);
    expect((await me(token)).statusCode).toBe(401);
  });

  it('a jku, x5u or embedded jwk header causes no outbound request and is rejected', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const claims = { sub: user.userId, iss: file().issuer, aud: file().audience, iat: nowSec(), nbf: nowSec(), exp: nowSec() + 600 };
    const attacker = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'attacker', typ: 'at+jwt', jku: jkuUrl }).sign(privateKey);
    const embedded = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk: await exportJWK(publicKey) }).sign(privateKey);
    const realKidWithJku = await forge({}, { jku: jkuUrl, x5u: jkuUrl });
    for (const token of [attacker, embedded, realKidWithJku]) expect((await me(token)).statusCode).toBe(401);
    expect(jkuHits).toBe(0);
  });

  it('a refresh token is not an access token', async () => {
    const res = await me(user.refreshToken);
    expect(res.statusCode).toBe(401);
  });

  it('a token whose subject was tampered with fails its signature', async () => {
    const [h, , s] = user.accessToken.split('.');
    const body = base64url.encode(JSON.stringify({ sub: 'usr_01ATTACKER000000000000000', iss: file().issuer, aud: file().audience, exp: nowSec() + 600, nbf: nowSec(), iat: nowSec() }));
    expect((await me(`${h}.${body}.${s}`)).statusCode).toBe(401);
  });

  it('garbage and malformed Authorization headers are 401, never 500', async () => {
    for (const authorization of ['Bearer', 'Bearer ', 'Basic abc', 'Bearer a.b.c', 'Bearer ....', `Bearer ${'x'.repeat(5000)}`, 'Bearer eyJ.eyJ.sig']) {
      const res = await t.request({ method: 'GET', url: '/v1/me', headers: { authorization } });
      expect(res.statusCode, authorization.slice(0, 20)).toBe(401);
    }
  });

  it('a credential is read from the Authorization header only: one in the query string, a cookie or another header is none', async () => {
    const u = await t.signup();
    expect((await t.request({ method: 'GET', url: '/v1/me', token: u.accessToken })).statusCode).toBe(200);
    for (const where of [
      { url: `/v1/me?access_token=${u.accessToken}` }, { url: `/v1/me?token=${u.accessToken}` },
      { url: '/v1/me', headers: { cookie: `access_token=${u.accessToken}` } }, { url: '/v1/me', headers: { 'x-api-key': u.accessToken } },
    ]) {
      const res = await t.request({ method: 'GET', ...where });
      expect([where, res.statusCode, res.json().error.code]).toEqual([where, 401, 'UNAUTHENTICATED']);
    }
  });
});

describe('refresh tokens', () => {
  it('rotate on use; a reused refresh token is refused and revokes its whole family', async () => {
    const u = await t.signup();
    const first = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: u.refreshToken } });
    expect(first.statusCode).toBe(200);
    const rotated = first.json();
    expect(rotated.refreshToken).not.toBe(u.refreshToken);
    const reuse = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: u.refreshToken } });
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().error.code).toBe('INVALID_CREDENTIALS');
    const afterTheft = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: rotated.refreshToken } });
    expect(afterTheft.statusCode).toBe(401);
  });

  it('concurrent use of one refresh token yields exactly one new pair, and the reuse revokes it too', async () => {
    for (let round = 0; round < 5; round++) {
      const u = await t.signup();
      const results = await Promise.all(Array.from({ length: 8 }, () =>
        t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: u.refreshToken } })));
      const won = results.filter((r) => r.statusCode === 200);
      expect(won).toHaveLength(1);
      // The others presented a spent token: the family is revoked, the winner's successor with it.
      const successor = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: won[0]!.json().refreshToken } });
      expect([round, successor.statusCode]).toEqual([round, 401]);
    }
  });

  it('an older token of the family presented while its newest is refreshed revokes the newest\'s successor too', async () => {
    const refresh = (refreshToken: string) => t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken } });
    for (let round = 0; round < 5; round++) {
      const u = await t.signup();
      const newest = (await refresh(u.refreshToken)).json().refreshToken as string;
      // The victim refreshes its newest token while the thief replays the spent one (or the other way round).
      const [fromNewest, fromSpent] = await Promise.all([refresh(newest), refresh(u.refreshToken)]);
      expect(fromSpent.statusCode).toBe(401);
      if (fromNewest.statusCode === 200) expect([round, (await refresh(fromNewest.json().refreshToken)).statusCode]).toEqual([round, 401]);
    }
  });

  it('expire', async () => {
    const u = await t.signup();
    t.clock.advance(file().auth.refreshTokenTtlSeconds * 1000);
    const res = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'refresh_token', refreshToken: u.refreshToken } });
    expect(res.statusCode).toBe(401);
  });
});
