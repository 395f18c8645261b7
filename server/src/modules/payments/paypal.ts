import { X509Certificate, verify as verifySignature } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import { crc32 } from '../../lib/crc32.js';
import { AppError } from '../../lib/errors.js';
import type { ProviderEvents, ProviderPayment, ProviderState } from './provider-events.js';
import type { PaymentReversal, Refunds } from './refunds.js';
import { currencyOf } from './stripe.js';

type Obj = Record<string, unknown>;
export type PayPalHeaders = Record<string, string | string[] | undefined>;

const CERT_CACHE_SIZE = 64;
const CERT_MAX_BYTES = 64 * 1024;
const CERT_TIMEOUT_MS = 5000;
/**
 * How old a transmission may be, and how far ahead of this clock. The signature covers
 * the body only by its CRC-32, so a recorded delivery must not stay good for ever; but
 * PayPal retries a delivery up to 25 times over 3 days, and whether a retry carries a new
 * transmission time is not documented: a retry of the first attempt's time must pass.
 */
const TRANSMISSION_MAX_AGE_MS = 4 * 86_400_000;
const TRANSMISSION_MAX_AHEAD_MS = 5 * 60_000;
const TRANSMISSION_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * PayPal's subscription events as Tollgate's states. An activation says PayPal will bill
 * the subscription, not that anything was paid (it may come before the first sale, and the
 * buyer may have set the subscription's price): it is active once a sale of it covers its
 * plan's price, pending_payment until then. A cancellation (the customer's, or the
 * merchant's) stops the billing, not the month paid for: the subscription runs to its
 * period's end, and PayPal sending nothing then, the sweeper ends it (billing
 * `endsItsOwnPeriod`). An expiry (its cycles all billed) ends it at once.
 */
const SUBSCRIPTION_STATE: Record<string, Pick<ProviderState, 'status' | 'cancelAtPeriodEnd' | 'activeOncePaid'>> = {
  'BILLING.SUBSCRIPTION.ACTIVATED': { status: 'active', cancelAtPeriodEnd: false, activeOncePaid: true },
  'BILLING.SUBSCRIPTION.CANCELLED': { cancelAtPeriodEnd: true },
  'BILLING.SUBSCRIPTION.SUSPENDED': { status: 'suspended' },
  'BILLING.SUBSCRIPTION.EXPIRED': { status: 'canceled' },
};

export interface PayPalOptions {
  /** PAYPAL_WEBHOOK_ID: the webhook whose events are accepted (it is part of what PayPal signs). */
  webhookId: string | undefined;
  /** PayPal billing plan id → plan. */
  plans: Readonly<Record<string, string>>;
  /** Fetch certificates from this origin instead (config billing.paypal.certificateOrigin); the URL is checked first all the same. */
  certificateOrigin?: string | undefined;
}

/** Where PayPal serves its webhook signing certificates (https://api.paypal.com/v1/notifications/certs/CERT-…). */
const CERT_PATH_PREFIX = '/v1/notifications/certs/';

/**
 * Whether a PAYPAL-CERT-URL may be fetched at all: https on PayPal's own hosts, on the
 * default port, under the certificates' path; nothing else (a forged event cannot make
 * Tollgate fetch anything it names).
 */
export function trustedCertificateUrl(value: string): URL | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const paypalHost = url.hostname === 'paypal.com' || url.hostname.endsWith('.paypal.com');
  const plain = url.username === '' && url.password === '' && (url.port === '' || url.port === '443') && url.search === '' && url.hash === '';
  return url.protocol === 'https:' && paypalHost && plain && url.pathname.startsWith(CERT_PATH_PREFIX) ? url : null;
}

/**
 * PayPal's webhooks, verified offline as PayPal documents it: the transmission id and
 * time, the webhook id and the CRC-32 of the raw body (decimal), joined by `|`, signed
 * SHA256withRSA with the key of the certificate at PAYPAL-CERT-URL — fetched only over
 * https from a PayPal host, without redirects, and cached — sent at most four days ago
 * (PayPal's retries span three) and not ahead of this clock. No PayPal API is called.
 */
export class PayPalWebhooks {
  private readonly certificates = new Map<string, Promise<X509Certificate>>();

  constructor(private readonly options: PayPalOptions, private readonly clock: Clock, private readonly events: ProviderEvents, private readonly refunds: Refunds) {}

  /** Verifies the delivery; returns its transmission id (which the event is claimed with). */
  async verify(raw: Buffer, headers: PayPalHeaders): Promise<string> {
    const header = (name: string) => {
      const value = headers[name];
      return typeof value === 'string' && value !== '' ? value : undefined;
    };
    const id = header('paypal-transmission-id');
    const time = header('paypal-transmission-time');
    const signature = header('paypal-transmission-sig');
    const certUrl = header('paypal-cert-url');
    const algorithm = header('paypal-auth-algo');
    if (!this.options.webhookId || !id || !time || !signature || !certUrl || algorithm !== 'SHA256withRSA' || raw.length === 0) throw new AppError('WEBHOOK_SIGNATURE_INVALID');
    // PayPal's are UUIDs; kept with the event (an index entry), so bounded.
    if (!TRANSMISSION_ID.test(id)) throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'the transmission id is not one PayPal sends');
    const url = trustedCertificateUrl(certUrl);
    if (!url) throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'the certificate URL is not https on a PayPal host');
    const now = this.clock.now().getTime();
    const sent = Date.parse(time);
    if (!Number.isFinite(sent) || now - sent > TRANSMISSION_MAX_AGE_MS || sent - now > TRANSMISSION_MAX_AHEAD_MS) {
      throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'the transmission time is more than four days ago, or ahead of this clock');
    }
    const cert = await this.certificate(url);
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'the signing certificate is not valid now');
    const message = Buffer.from(`${id}|${time}|${this.options.webhookId}|${crc32(raw)}`, 'utf8');
    if (!verifySignature('sha256', message, cert.publicKey, Buffer.from(signature, 'base64'))) throw new AppError('WEBHOOK_SIGNATURE_INVALID');
    return id;
  }

  async receive(raw: Buffer, headers: PayPalHeaders): Promise<string> {
    const transmissionId = await this.verify(raw, headers);
    let event: Obj;
    try {
      event = JSON.parse(raw.toString('utf8')) as Obj;
    } catch {
      throw new AppError('BAD_REQUEST', 'not a PayPal event');
    }
    const type = typeof event?.event_type === 'string' ? event.event_type : '';
    if (typeof event.id !== 'string' || !type) throw new AppError('BAD_REQUEST', 'not a PayPal event');
    // The body is signed only by its CRC-32: the transmission is bound to this event (ProviderEvents.process).
    const ref = { id: event.id, type, transmissionId };
    const resource = (event.resource ?? {}) as Obj;
    const created = dateOf(event.create_time) ?? this.clock.now();
    const known = SUBSCRIPTION_STATE[type];
    if (known) {
      const state: ProviderState = {
        subscriptionId: String(resource.id), ...known, plan: this.options.plans[String(resource.plan_id)],
        at: dateOf(resource.status_update_time) ?? dateOf(resource.update_time) ?? created, creates: type === 'BILLING.SUBSCRIPTION.ACTIVATED',
      };
      const tenantId = await this.events.tenantOf('paypal', { fromMetadata: str(resource.custom_id), subscriptionId: state.subscriptionId });
      return this.events.process('paypal', ref, tenantId, (tx, tenant) => this.events.applyState(tx, tenant, 'paypal', state));
    }
    const reversal = reversalOf(type, resource);
    if (reversal) return this.refunds.receive('paypal', ref, reversal);
    const payment = this.paymentOf(type, resource, created);
    if (!payment) return this.events.process('paypal', ref, null, null);
    const tenantId = await this.events.tenantOf('paypal', { fromMetadata: str(resource.custom_id) ?? str(resource.custom), subscriptionId: payment.subscriptionId });
    return this.events.process('paypal', ref, tenantId, (tx, tenant) => this.events.applyPayment(tx, tenant, 'paypal', payment));
  }

  /** Sales (subscription payments), captures (orders) and a subscription's failed payment. */
  private paymentOf(type: string, r: Obj, created: Date): ProviderPayment | null {
    const at = dateOf(r.create_time) ?? created;
    switch (type) {
      case 'PAYMENT.SALE.COMPLETED':
      case 'PAYMENT.SALE.DENIED': {
        const amount = (r.amount ?? {}) as Obj;
        return {
          externalId: str(r.id), subscriptionId: str(r.billing_agreement_id), succeeded: type.endsWith('COMPLETED'),
          ...money(amount.total, amount.currency), reason: type.endsWith('DENIED') ? 'the sale was denied' : null, at,
        };
      }
      case 'PAYMENT.CAPTURE.COMPLETED':
      case 'PAYMENT.CAPTURE.DENIED': {
        const amount = (r.amount ?? {}) as Obj;
        return {
          externalId: str(r.id), subscriptionId: null, succeeded: type.endsWith('COMPLETED'),
          ...money(amount.value, amount.currency_code), reason: type.endsWith('DENIED') ? 'the capture was denied' : null, at,
        };
      }
      case 'BILLING.SUBSCRIPTION.PAYMENT.FAILED': {
        const failed = ((r.billing_info as Obj | undefined)?.last_failed_payment ?? {}) as Obj;
        const amount = (failed.amount ?? {}) as Obj;
        return {
          externalId: null, subscriptionId: str(r.id), succeeded: false, ...money(amount.value, amount.currency_code),
          reason: 'the subscription payment failed', at: dateOf(failed.time) ?? created,
        };
      }
      default:
        return null;
    }
  }

  /** The certificate at `url`, fetched once (concurrent requests share the fetch; a failed fetch is not kept). */
  private certificate(url: URL): Promise<X509Certificate> {
    const key = url.href;
    let cert = this.certificates.get(key);
    if (!cert) {
      if (this.certificates.size >= CERT_CACHE_SIZE) this.certificates.clear();
      cert = this.fetchCertificate(url);
      this.certificates.set(key, cert);
      cert.catch(() => this.certificates.delete(key));
    }
    return cert;
  }

  private async fetchCertificate(url: URL): Promise<X509Certificate> {
    const from = this.options.certificateOrigin ? new URL(url.pathname, this.options.certificateOrigin) : url;
    try {
      const response = await fetch(from, { redirect: 'error', signal: AbortSignal.timeout(CERT_TIMEOUT_MS) });
      if (!response.ok || !response.body) throw new Error(`certificate fetch answered ${response.status}`);
      return new X509Certificate(await readAtMost(response.body, CERT_MAX_BYTES));
    } catch (error) {
      throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'the signing certificate could not be fetched', undefined, { cause: error });
    }
  }
}

/** A response body, refused past `max` bytes without reading the rest. */
async function readAtMost(body: ReadableStream<Uint8Array>, max: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > max) throw new Error(`certificate larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A refund, or a reversal: a chargeback PayPal settled against the merchant. */
const REVERSALS: Record<string, 'refund' | 'reversal'> = {
  'PAYMENT.SALE.REFUNDED': 'refund', 'PAYMENT.CAPTURE.REFUNDED': 'refund', 'PAYMENT.SALE.REVERSED': 'reversal', 'PAYMENT.CAPTURE.REVERSED': 'reversal',
};

/**
 * A sale's or capture's refund or reversal, as the payment it names: a sale refund's
 * `sale_id`, else its link up to the sale or capture (a v2 refund names its capture only
 * so). `amount` is this refund's; `total_refunded_amount` (v1), or the seller payable
 * breakdown's (v2), all refunded of it so far, where PayPal says.
 */
function reversalOf(type: string, r: Obj): PaymentReversal | null {
  const kind = REVERSALS[type];
  if (!kind) return null;
  const ref = { externalId: str(r.sale_id) ?? refundedId(r), paymentIntent: null };
  if (kind === 'reversal') return { ...ref, kind };
  const amount = (r.amount ?? {}) as Obj;
  const total = (r.total_refunded_amount ?? (r.seller_payable_breakdown as Obj | undefined)?.total_refunded_amount) as Obj | undefined;
  return {
    ...ref, kind, amount: money(amount.total ?? amount.value, amount.currency ?? amount.currency_code).amount,
    ...(total ? { total: money(total.value ?? total.total, total.currency_code ?? total.currency).amount } : {}),
  };
}

/** The sale or capture a refund's link `up` (or `sale`, `capture`) points to: …/sale/{id} or …/captures/{id}. */
function refundedId(r: Obj): string | null {
  const links = Array.isArray(r.links) ? r.links as Obj[] : [];
  for (const link of links) {
    const href = ['up', 'sale', 'capture'].includes(String(link?.rel)) && typeof link.href === 'string' ? link.href : '';
    const match = /\/(?:sale|captures?)\/([^/?#]+)\/?$/.exec(href);
    if (match) return match[1]!;
  }
  return null;
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function dateOf(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/** A decimal amount ("49.00") in the currency's minor unit (4900), by the currency's own number of decimals. */
export function money(value: unknown, currency: unknown): { amount: number; currency: string } {
  const code = currencyOf(currency);
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    digits = 2;
  }
  const match = typeof value === 'string' ? /^(\d{1,15})(?:\.(\d+))?$/.exec(value.trim()) : null;
  if (!match) return { amount: 0, currency: code };
  const fraction = (match[2] ?? '').padEnd(digits, '0').slice(0, digits);
  return { amount: Number(match[1]) * 10 ** digits + Number(fraction || '0'), currency: code };
}
