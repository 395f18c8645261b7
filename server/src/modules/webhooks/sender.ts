import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { hostOf, type TargetPolicy } from './targets.js';

/** One attempt's message: the Standard Webhooks id (the event's), its time, and the body. */
export interface OutgoingMessage {
  url: string;
  /** The whsec_ secret, recovered for this attempt only. */
  secret: string;
  /** The secret a rotation replaced, while its grace lasts: it signs too. */
  previousSecret?: string | undefined;
  webhookId: string;
  timestamp: Date;
  body: string;
}

/** What an attempt came to: a 2xx is delivered; anything else (a redirect too) is retried. */
export type AttemptResult = { ok: boolean; status: number | null; error: string | null };

/** Bytes of a receiver's answer that are read (and thrown away); the rest is not waited for. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * The Standard Webhooks headers of a message: webhook-id, webhook-timestamp,
 * webhook-signature (v1,<base64>; during a rotation's grace also the previous secret's,
 * space-separated, which the specification's verifiers accept either of).
 */
export function signedHeaders(m: Pick<OutgoingMessage, 'secret' | 'previousSecret' | 'webhookId' | 'timestamp' | 'body'>): Record<string, string> {
  const signatures = [m.secret, ...(m.previousSecret === undefined ? [] : [m.previousSecret])]
    .map((secret) => new Webhook(secret).sign(m.webhookId, m.timestamp, m.body));
  return {
    'webhook-id': m.webhookId,
    'webhook-timestamp': String(Math.floor(m.timestamp.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * Sends one attempt: the target is checked again on the addresses connected to (DNS
 * rebinding), no redirect is followed, and the receiver has `timeoutMs` in all to answer
 * with a status, which decides the attempt; its body is drained, and the connection ended
 * at that deadline if the body is not done by then.
 */
export function send(policy: TargetPolicy, m: OutgoingMessage, timeoutMs: number): Promise<AttemptResult> {
  const parsed = policy.parse(m.url);
  if (!parsed.ok) return Promise.resolve({ ok: false, status: null, error: parsed.error.message });
  const url = parsed.url;
  const host = hostOf(url);
  // A literal address is connected to without a lookup: it is checked here.
  if (isIP(host) && !policy.hostAllowed(host) && !policy.addressAllowed(host)) {
    return Promise.resolve({ ok: false, status: null, error: `refused: ${host} is a private or reserved address` });
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const req = request(url, {
      method: 'POST',
      lookup: policy.connectLookup(host),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Tollgate-Webhooks/1',
        'content-length': Buffer.byteLength(m.body),
        ...signedHeaders(m),
      },
    }, (res: IncomingMessage) => {
      // The status is the answer, decided as it arrives: a receiver that said 2xx and then
      // stalls its body has answered (it is not sent the event again as "no answer").
      finish(outcome(res.statusCode ?? 0));
      // The body is read and thrown away, up to MAX_RESPONSE_BYTES; the deadline ends one that stalls.
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      res.on('error', () => undefined);
      res.on('close', () => clearTimeout(timer));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (error: Error) => {
      clearTimeout(timer);
      finish({ ok: false, status: null, error: error.message.slice(0, 500) });
    });
    req.end(m.body);
  });
}

function outcome(status: number): AttemptResult {
  if (status >= 200 && status < 300) return { ok: true, status, error: null };
  return { ok: false, status, error: status >= 300 && status < 400 ? 'redirects are not followed' : `the receiver answered ${status}` };
}
