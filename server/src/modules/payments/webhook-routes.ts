import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../../http/schemas.js';
import type { PayPalWebhooks } from './paypal.js';
import type { StripeWebhooks } from './stripe.js';

export interface WebhookRouteOptions {
  stripe: StripeWebhooks;
  paypal: PayPalWebhooks;
}

/** Providers' events can be bigger than an API request (an invoice with many lines). */
const WEBHOOK_BODY_LIMIT = 1024 * 1024;

const Received = Type.Object({ received: Type.Literal(true) });
const RawEvent = Type.Unknown({ description: 'the provider\'s event as it sent it: its signature is checked on these exact bytes' });

/**
 * The payment providers' webhooks. Public (the signature is the credential), and in a
 * context of their own whose only body parser keeps the raw bytes, any content type:
 * the app's JSON parser, which re-reads and refuses some input, stays as it is for every
 * other route. A bad or missing signature is 400 WEBHOOK_SIGNATURE_INVALID and writes
 * nothing; an event already processed, or of a type Tollgate ignores, is 200 all the same.
 */
export const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRouteOptions> = async (app, { stripe, paypal }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => { done(null, body); });

  app.post('/v1/webhooks/stripe', {
    bodyLimit: WEBHOOK_BODY_LIMIT,
    config: { auth: 'public' },
    schema: {
      tags: ['billing'], summary: 'Stripe events, Stripe-Signature verified against the configured signing secrets',
      security: [], body: RawEvent, response: { 200: Received, ...errors() },
    },
  }, async (request) => {
    const signature = request.headers['stripe-signature'];
    const outcome = await stripe.receive(rawOf(request.body), typeof signature === 'string' ? signature : undefined);
    request.log.info({ provider: 'stripe', outcome }, 'payment provider event');
    return { received: true as const };
  });

  app.post('/v1/webhooks/paypal', {
    bodyLimit: WEBHOOK_BODY_LIMIT,
    config: { auth: 'public' },
    schema: {
      tags: ['billing'], summary: 'PayPal events, the transmission signature verified offline against PayPal\'s certificate',
      security: [], body: RawEvent, response: { 200: Received, ...errors() },
    },
  }, async (request) => {
    const outcome = await paypal.receive(rawOf(request.body), request.headers);
    request.log.info({ provider: 'paypal', outcome }, 'payment provider event');
    return { received: true as const };
  });
};

function rawOf(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}
