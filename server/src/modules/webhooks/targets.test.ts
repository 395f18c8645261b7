import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../config.js';
import { send } from './sender.js';
import { TargetPolicy } from './targets.js';

let server: Server;
let port: number;
const hits: { path: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
/** Resolved when the receiver's answer to a /stall/{status} request is closed (by the sender). */
const stalledClosed: Promise<void>[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
    req.on('end', () => {
      hits.push({ path: req.url ?? '', headers: req.headers, body });
      const stall = /^\/stall\/(\d{3})$/.exec(req.url ?? '');
      if (stall) {
        // The status line and part of the body, then nothing more.
        stalledClosed.push(new Promise((resolve) => res.on('close', resolve)));
        res.writeHead(Number(stall[1]), { 'content-length': '1000' });
        res.write('{"partial":');
        return;
      }
      if (req.url === '/redirect') {
        res.statusCode = 302;
        res.setHeader('location', `http://127.0.0.1:${port}/elsewhere`);
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const message = (url: string) => ({ url, secret: SECRET, webhookId: 'msg_TEST', timestamp: new Date(), body: '{"type":"credits.low","timestamp":"2026-01-01T00:00:00.000Z","data":{}}' });

describe('target policy', () => {
  it('refuses private, loopback, link-local, unique-local and reserved addresses; public ones pass', async () => {
    const policy = new TargetPolicy({ allowPrivate: false, allowed: [] }, async () => ['93.184.216.34']);
    expect((await policy.check('https://hooks.example.com/x')).ok).toBe(true);
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.1.1', '0.0.0.0', '::1', 'fe80::1', 'fd12::1', '::ffff:10.0.0.1', '::ffff:a00:1', '224.0.0.1',
      // IPv4-compatible (::/96) and SIIT's IPv4-translated (::ffff:0:0:0/96) forms, whatever IPv4 address they embed
      '::', '::7f00:1', '::127.0.0.1', '::a9fe:a9fe', '::5db8:d822', '::ffff:0:7f00:1', '::ffff:0:a9fe:a9fe', '::ffff:0:5db8:d822']) {
      expect(policy.addressAllowed(address), address).toBe(false);
    }
    for (const address of ['93.184.216.34', '::ffff:93.184.216.34', '::ffff:5db8:d822', '2606:2800:220:1:248:1893:25c8:1946']) {
      expect(policy.addressAllowed(address), address).toBe(true);
    }
    const rebound = new TargetPolicy({ allowPrivate: false, allowed: [] }, async () => ['93.184.216.34', '10.0.0.5']);
    const refused = await rebound.check('https://hooks.example.com/x');
    expect(refused).toMatchObject({ ok: false, error: { code: 'WEBHOOK_URL_FORBIDDEN' } });
  });

  it('lets through what the config allows: listed hosts, addresses and CIDR blocks, or private targets altogether', async () => {
    const policy = new TargetPolicy({ allowPrivate: false, allowed: ['10.0.0.0/8', 'hooks.internal', 'fd00::/8'] }, async () => ['192.168.1.1']);
    expect(policy.addressAllowed('10.200.0.1')).toBe(true);
    expect(policy.addressAllowed('fd00::5')).toBe(true);
    expect(policy.addressAllowed('192.168.1.1')).toBe(false);
    expect((await policy.check('http://hooks.internal/x')).ok).toBe(true);
    expect((await policy.check('http://other.internal/x')).ok).toBe(false);
    expect(new TargetPolicy({ allowPrivate: true, allowed: [] }).addressAllowed('127.0.0.1')).toBe(true);
    expect(() => new TargetPolicy({ allowPrivate: false, allowed: ['10.0.0.0/99'] })).toThrow(/bad prefix/);
  });

  it('a host that does not resolve is invalid even where private targets are allowed, or the host is listed by name', async () => {
    const unresolvable = { ok: false, error: { code: 'WEBHOOK_URL_INVALID', message: 'the host no-such-host.invalid does not resolve' } };
    // The system resolver: .invalid never resolves (RFC 6761).
    expect(await new TargetPolicy({ allowPrivate: true, allowed: [] }).check('http://no-such-host.invalid/hook')).toEqual(unresolvable);
    expect(await new TargetPolicy({ allowPrivate: false, allowed: ['no-such-host.invalid'] }).check('http://no-such-host.invalid/hook')).toEqual(unresolvable);
    // Resolving, it passes whatever it points at.
    expect((await new TargetPolicy({ allowPrivate: true, allowed: [] }, async () => ['10.0.0.1']).check('http://no-such-host.invalid/hook')).ok).toBe(true);
  });

  it('TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true wins over the file; off by default', () => {
    const env = { TOLLGATE_SECRET_KEY: 'x'.repeat(32) };
    expect(loadConfig({ env }).webhooksAllowPrivateTargets).toBe(false);
    expect(loadConfig({ env: { ...env, TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true' } }).webhooksAllowPrivateTargets).toBe(true);
  });
});

describe('sending', () => {
  it('checks the addresses connected to again (DNS rebinding): a name that now resolves to a refused address is not connected to', async () => {
    let answer = ['93.184.216.34'];
    const policy = new TargetPolicy({ allowPrivate: false, allowed: [] }, async () => answer);
    const url = `http://rebind.test:${port}/hook`;
    expect((await policy.check(url)).ok).toBe(true);
    answer = ['127.0.0.1'];
    const before = hits.length;
    const result = await send(policy, message(url), 2000);
    expect(result).toMatchObject({ ok: false, status: null });
    expect(result.error).toMatch(/refused/);
    expect(hits.length).toBe(before);
  });

  it('signs per Standard Webhooks, delivers to an allowed address, and follows no redirect', async () => {
    const policy = new TargetPolicy({ allowPrivate: false, allowed: ['127.0.0.1'] }, async () => ['127.0.0.1']);
    const ok = await send(policy, message(`http://receiver.test:${port}/hook`), 2000);
    expect(ok).toEqual({ ok: true, status: 200, error: null });
    const hit = hits.at(-1)!;
    const headers = { 'webhook-id': String(hit.headers['webhook-id']), 'webhook-timestamp': String(hit.headers['webhook-timestamp']), 'webhook-signature': String(hit.headers['webhook-signature']) };
    expect(headers['webhook-id']).toBe('msg_TEST');
    expect(() => new Webhook(SECRET).verify(hit.body, headers)).not.toThrow();
    expect(() => new Webhook(`whsec_${Buffer.from('another secret, another signer!!').toString('base64')}`).verify(hit.body, headers)).toThrow();
    const before = hits.length;
    const redirected = await send(policy, message(`http://127.0.0.1:${port}/redirect`), 2000);
    expect(redirected).toEqual({ ok: false, status: 302, error: 'redirects are not followed' });
    expect(hits.slice(before).map((h) => h.path)).toEqual(['/redirect']);
  });

  it('a refusal names the host, never the private address it resolves to (no internal-DNS oracle for tenants)', async () => {
    const policy = new TargetPolicy({ allowPrivate: false, allowed: [] }, async () => ['93.184.216.34', '10.20.30.40']);
    // The API's error message (WebhookService.create) is the check's.
    expect(await policy.check('https://intranet.example.com/x')).toEqual({
      ok: false, error: { code: 'WEBHOOK_URL_FORBIDDEN', message: 'the host intranet.example.com resolves to a private or reserved address' },
    });
    // The delivery log's lastError is the attempt's.
    const before = hits.length;
    expect(await send(policy, message(`http://intranet.example.com:${port}/hook`), 2000)).toEqual({
      ok: false, status: null, error: 'refused: the host intranet.example.com resolves to a private or reserved address',
    });
    expect(hits.length).toBe(before);
  });

  it('a receiver that answers its status and then stalls the body has answered: the status decides, the body is cut at the deadline', async () => {
    const policy = new TargetPolicy({ allowPrivate: false, allowed: ['127.0.0.1'] });
    const timeoutMs = 300;
    expect(await send(policy, message(`http://127.0.0.1:${port}/stall/200`), timeoutMs)).toEqual({ ok: true, status: 200, error: null });
    // The stalled body is not left open: the sender ends the connection at the deadline.
    await stalledClosed.at(-1);
    expect(await send(policy, message(`http://127.0.0.1:${port}/stall/503`), timeoutMs)).toEqual({ ok: false, status: 503, error: 'the receiver answered 503' });
    await stalledClosed.at(-1);
  });

  it('a literal address that is refused is never connected to', async () => {
    const policy = new TargetPolicy({ allowPrivate: false, allowed: [] });
    const before = hits.length;
    const result = await send(policy, message(`http://127.0.0.1:${port}/hook`), 2000);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/refused/);
    expect(hits.length).toBe(before);
  });
});
