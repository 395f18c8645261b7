import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../src/lib/clock.js';

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: { type: string; timestamp: string; data: Record<string, unknown> & { tenantId: string } };
  /** The signature checked with the standardwebhooks library against the endpoint's secret. */
  verified: boolean;
}

/**
 * A webhook receiver on 127.0.0.1 as a customer would write one: every request is checked
 * with the standardwebhooks library (its clock the test's, since the test moves time),
 * recorded, and answered `status` (set it to 500 to play a receiver that is down).
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  status = 200;
  secret: string | undefined;
  private server: Server | undefined;

  constructor(private readonly clock: Clock) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
        this.received.push({
          id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'],
          body: JSON.parse(raw) as Received['body'], verified: this.verify(raw, headers),
        });
        res.statusCode = this.status;
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** The library's verify, at the test clock's time (it checks the timestamp against now). */
  private verify(raw: string, headers: Record<string, string>): boolean {
    if (!this.secret) return false;
    const now = vi.spyOn(Date, 'now').mockReturnValue(this.clock.now().getTime());
    try {
      new Webhook(this.secret).verify(raw, headers);
      return true;
    } catch {
      return false;
    } finally {
      now.mockRestore();
    }
  }

  ofType(type: string): Received[] {
    return this.received.filter((r) => r.body.type === type);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
