import { isIP } from 'node:net';
import { AppError } from '../../lib/errors.js';

const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.intranet', '.lan', '.home.arpa', '.corp'];

/**
 * A tenant's base URL, as the platform's backend will call it with the tenant's key: https,
 * no credentials in it, and a public DNS name — no IP address at all (private, loopback,
 * link-local and the cloud metadata address are the SSRF targets; a public address gains
 * nothing a name does not), no single-label or internal-suffix name, no empty label; no
 * query or fragment, not even an empty one. Answers the URL as normalised (no trailing
 * slash). A public name can still resolve to a private address: the backend's egress rules
 * are the last word (docs/routing.md).
 */
export function checkBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError('ROUTE_INVALID', 'baseUrl: not a URL');
  }
  if (url.protocol !== 'https:') throw new AppError('ROUTE_INVALID', 'baseUrl: must be https');
  if (url.username || url.password) throw new AppError('ROUTE_INVALID', 'baseUrl: must not carry credentials');
  // The text, not url.search / url.hash: an empty query or fragment ("…/v1?") is none to URL, but would be kept with the URL.
  if (/[?#]/.test(value)) throw new AppError('ROUTE_INVALID', 'baseUrl: must not have a query or fragment');
  // One trailing dot is the root's (a fully qualified name); an empty label besides ("localhost..") would slip past the checks below.
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host.split('.').includes('')) throw new AppError('ROUTE_INVALID', 'baseUrl: must not have an empty label in its host name');
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) throw new AppError('ROUTE_INVALID', 'baseUrl: must name a host, not an IP address');
  if (!host.includes('.') || host === 'localhost' || INTERNAL_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
    throw new AppError('ROUTE_INVALID', 'baseUrl: must be a public host name');
  }
  return url.href.replace(/\/+$/, '');
}

/** Below this length, four characters are too much of a secret to show (an external ID may be 2 characters long). */
const SHOWN_FROM_LENGTH = 16;

/** The last four characters of a secret, all that is ever shown of it; nothing (null) of a shorter secret. */
export function lastFour(secret: string): string | null {
  return secret.length >= SHOWN_FROM_LENGTH ? secret.slice(-4) : null;
}
