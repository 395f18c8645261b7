import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';

/** An identity provider's key endpoint on 127.0.0.1: an RS256 key (kid `idp-1`) whose public half it serves as a JWKS. */
export interface LocalJwks { privateKey: CryptoKey; port: number; close(): Promise<void> }

/** `answer` may take a path first (a provider whose endpoint fails or hangs): true when it did. */
export async function startLocalJwks(answer?: (url: string | undefined, res: ServerResponse) => boolean): Promise<LocalJwks> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  const server = createServer((req, res) => {
    if (answer?.(req.url, res)) return;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    privateKey, port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections(); // requests left hanging
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
