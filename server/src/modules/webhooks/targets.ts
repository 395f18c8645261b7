import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';

/**
 * Where a webhook may be sent (SSRF): http or https, to a host whose every address is
 * public — not loopback, private, link-local (cloud metadata at 169.254.169.254),
 * unique-local, carrier-grade NAT, multicast, reserved or documentation — unless the
 * config allows it (a host by name, an address or a CIDR block, or private targets
 * altogether). Checked when an endpoint is made and again at every connection, on the
 * very addresses connected to (a name that resolves elsewhere later, DNS rebinding, is
 * caught there); redirects are never followed (sender.ts).
 */

const PRIVATE_V4 = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const;
/**
 * ::/96 holds the unspecified address, loopback and the deprecated IPv4-compatible form
 * (::127.0.0.1 is ::7f00:1); ::ffff:0:0:0/96 is SIIT's IPv4-translated form
 * (::ffff:0:127.0.0.1). Both embed an IPv4 address that is not checked as one, so the
 * blocks are refused whole. The IPv4-mapped ::ffff:0:0/96 is not listed: a mapped address
 * is checked as the IPv4 address it maps (normalized), and node's BlockList matches every
 * IPv4 address against an IPv6 rule for the mapped block, which would refuse them all.
 */
const PRIVATE_V6 = [
  ['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const;

const refused = new BlockList();
for (const [net, prefix] of PRIVATE_V4) refused.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of PRIVATE_V6) refused.addSubnet(net, prefix, 'ipv6');

export type TargetRefusal = { code: 'WEBHOOK_URL_INVALID' | 'WEBHOOK_URL_FORBIDDEN'; message: string };
export type TargetCheck = { ok: true; url: URL } | { ok: false; error: TargetRefusal };

export interface TargetRules {
  allowPrivate: boolean;
  /** Host names (exact, case-insensitive), addresses and CIDR blocks let through although private. */
  allowed: readonly string[];
}

/** Resolves a host to its addresses (the system resolver, as connections use). */
export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export class TargetPolicy {
  private readonly allowedHosts = new Set<string>();
  private readonly allowedAddresses = new BlockList();

  constructor(private readonly rules: TargetRules, private readonly resolve: Resolver = systemResolver) {
    for (const entry of rules.allowed) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address ?? '');
      if (family === 0) {
        if (prefix !== undefined) throw new Error(`webhooks.allowedTargets: "${entry}" is neither a host name nor a CIDR block`);
        this.allowedHosts.add(entry.toLowerCase());
        continue;
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) throw new Error(`webhooks.allowedTargets: bad prefix in "${entry}"`);
      this.allowedAddresses.addSubnet(address!, bits, type);
    }
  }

  /** The URL's form (scheme, no credentials, a host), without resolving it. */
  parse(text: string): TargetCheck {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return invalid('not an absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return invalid('the scheme must be http or https');
    if (url.username !== '' || url.password !== '') return invalid('the URL must not carry credentials');
    if (url.hostname === '') return invalid('the URL has no host');
    return { ok: true, url };
  }

  /** The URL's form, and every address its host resolves to now. */
  async check(text: string): Promise<TargetCheck> {
    const parsed = this.parse(text);
    if (!parsed.ok) return parsed;
    const host = hostOf(parsed.url);
    let addresses: string[];
    try {
      addresses = isIP(host) ? [host] : await this.resolve(host);
    } catch {
      return invalid(`the host ${host} does not resolve`);
    }
    if (addresses.length === 0) return invalid(`the host ${host} does not resolve`);
    // A host the config lets through (by name, or private targets altogether) must still
    // resolve; only where its addresses point is not asked.
    if (this.hostAllowed(host)) return parsed;
    const bad = addresses.find((a) => !this.addressAllowed(a));
    if (bad !== undefined) return { ok: false, error: { code: 'WEBHOOK_URL_FORBIDDEN', message: refusedMessage(host) } };
    return parsed;
  }

  hostAllowed(host: string): boolean {
    return this.rules.allowPrivate || this.allowedHosts.has(host.toLowerCase());
  }

  addressAllowed(address: string): boolean {
    if (this.rules.allowPrivate) return true;
    const { ip, type } = normalized(address);
    if (this.allowedAddresses.check(ip, type)) return true;
    return !refused.check(ip, type);
  }

  /**
   * The lookup a connection uses (node:net `lookup`): resolves, and refuses when any
   * address is not allowed, so what is connected to is what was checked.
   */
  connectLookup(host: string): LookupFunction {
    const allowedHost = this.hostAllowed(host);
    return (hostname, options, callback) => {
      this.resolve(hostname).then((addresses) => {
        const bad = allowedHost ? undefined : addresses.find((a) => !this.addressAllowed(a));
        if (addresses.length === 0) throw Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' });
        if (bad !== undefined) throw Object.assign(new Error(`refused: ${refusedMessage(hostname)}`), { code: 'WEBHOOK_TARGET_FORBIDDEN' });
        const entries = addresses.map((address) => ({ address, family: isIP(address) }));
        if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: typeof entries) => void)(null, entries);
        else callback(null, entries[0]!.address, entries[0]!.family);
      }).catch((error: NodeJS.ErrnoException) => callback(error, '', 0));
    };
  }
}

/** The URL's host as connections name it (IPv6 literals without their brackets). */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1, ::ffff:a00:1) is the IPv4 address it maps. */
function normalized(address: string): { ip: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { ip: mapped[1]!, type: 'ipv4' };
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const high = parseInt(hex[1]!, 16);
    const low = parseInt(hex[2]!, 16);
    return { ip: [high >> 8, high & 255, low >> 8, low & 255].join('.'), type: 'ipv4' };
  }
  return { ip: address, type: isIP(address) === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Why a host is refused, without the address it resolves to: the message reaches the
 * tenant (the API's error, the delivery log's lastError), and naming the address would let
 * a tenant's admin look names up in the internal DNS.
 */
function refusedMessage(host: string): string {
  return `the host ${host} resolves to a private or reserved address`;
}

function invalid(message: string): TargetCheck {
  return { ok: false, error: { code: 'WEBHOOK_URL_INVALID', message } };
}
