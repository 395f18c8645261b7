/**
 * A local HTTP server answering from a script, for what only a broken server does (503s,
 * answers that never come): what is tested with it is the client. The last scripted
 * answer repeats.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

export interface Scripted {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer (until the stub closes). */
  hang?: boolean;
  /** The body's text as it is, instead of `body` as JSON (an HTML page of a proxy, say). */
  raw?: string;
  /** Milliseconds between the body's bytes, sent one at a time (until the stub closes). */
  drip?: number;
}

export interface Received { method: string; url: string; headers: IncomingMessage['headers']; body: unknown }

export interface Stub {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

export async function startStub(script: Scripted[]): Promise<Stub> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    request.on('end', () => {
      received.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: text ? JSON.parse(text) : undefined });
      const answer = script[Math.min(received.length - 1, script.length - 1)]!;
      if (answer.hang) {
        hanging.push(response);
        return;
      }
      response.writeHead(answer.status ?? 200, { 'content-type': 'application/json', 'x-request-id': 'req_stub', ...answer.headers });
      const payload = answer.raw ?? JSON.stringify(answer.body ?? {});
      if (!answer.drip) return response.end(payload);
      hanging.push(response);
      response.flushHeaders();
      let sent = 0;
      const timer = setInterval(() => {
        if (response.destroyed || sent === payload.length) {
          clearInterval(timer);
          if (!response.destroyed) response.end();
          return;
        }
        response.write(payload[sent++]);
      }, answer.drip);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `serve(...script)` for the tests of a suite (call it in a describe or at the top): each stub started is closed after its test. */
export function stubsClosedAfterEachTest(): (...script: Scripted[]) => Promise<Stub> {
  const stubs: Stub[] = [];
  afterEach(async () => { await Promise.all(stubs.splice(0).map((stub) => stub.close())); });
  return async (...script) => {
    const stub = await startStub(script);
    stubs.push(stub);
    return stub;
  };
}

export function errorBody(code: string, message = 'stubbed'): unknown {
  return { error: { code, message, requestId: 'req_stub' } };
}

/** An allowed decision, shaped as the server's. */
export function decisionBody(): unknown {
  return {
    allowed: true, code: 'OK', decisionId: 'dec_stub', tenant: { id: 'tnt_stub', plan: 'free', enterprise: false },
    principal: { type: 'api_key', id: 'key_stub', userId: null, role: null }, operation: { name: 'clustering', module: 'planner', credits: 10 },
    limits: [], credits: { balance: 90, reserved: 10, available: 80 }, reservation: { id: 'res_stub', credits: 10, expiresAt: '2030-01-01T00:00:00.000Z' },
    bypass: null, route: { provider: 'default' },
  };
}
