import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { accessOf, operatorOf } from '../../http/access-hook.js';
import { ctxOf } from '../../http/guards.js';
import { Body, errors, TenantParams } from '../../http/schemas.js';
import type { TenantAccess } from '../../lib/principal.js';
import type { Actor } from '../audit/index.js';
import type { SubscriptionActions } from './actions.js';
import { SubscriptionSchema } from './view.js';

export interface BillingRouteOptions {
  subscriptions: SubscriptionActions;
  /** Who a tenant principal is in the audit log (tenancy's actorOf, wired by the app). */
  actorOf: (access: TenantAccess) => Actor;
}

/**
 * The subscription's own routes. They serve a tenant whose subscription requires payment
 * (`whileUnpaid`): its owner must be able to see what is due and act on it.
 */
export const billingRoutes: FastifyPluginAsyncTypebox<BillingRouteOptions> = async (app, { subscriptions, actorOf }) => {
  // Any member: the view is what GET /v1/tenants/{tenantId} shows every member as its
  // `subscription` (plan, status, period, the method and the last payment's external id),
  // never a provider's customer or subscription id; the payments (amounts, payers, proofs,
  // transfer references) stay the owner's and admins'.
  app.get('/v1/tenants/:tenantId/subscription', {
    config: { access: 'member', whileUnpaid: true },
    schema: { tags: ['billing'], summary: 'The tenant\'s subscription (any member)', params: TenantParams, response: { 200: SubscriptionSchema, ...errors(401, 403, 404) } },
  }, async (request) => subscriptions.get(request.params.tenantId));

  app.post('/v1/tenants/:tenantId/subscription/cancel', {
    // Without a body: cancel now.
    config: { access: 'owner', whileUnpaid: true, optionalBody: true },
    schema: {
      tags: ['billing'], summary: 'Cancel now, or at the end of the period (resumable until then); owner only',
      params: TenantParams,
      body: Body({ atPeriodEnd: Type.Optional(Type.Boolean({ description: 'default false: now' })) }),
      response: { 200: SubscriptionSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return subscriptions.cancel(access.tenantId, request.body.atPeriodEnd ?? false, actorOf(access), ctxOf(request));
  });

  app.post('/v1/tenants/:tenantId/subscription/resume', {
    config: { access: 'owner', whileUnpaid: true },
    schema: {
      tags: ['billing'], summary: 'Undo a cancellation whose period (or trial) has not ended; owner only',
      params: TenantParams, response: { 200: SubscriptionSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return subscriptions.resume(access.tenantId, actorOf(access), ctxOf(request));
  });

  app.post('/v1/admin/tenants/:tenantId/trial', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Set (or extend) a trial: the subscription is trialing until endsAt, or for days',
      description: 'A subscription Stripe or PayPal bills is theirs to put on a trial: 409 SUBSCRIPTION_MANAGED_BY_PROVIDER. Once they ended it, the trial is Tollgate\'s (paymentMethod null). Given over a period paid for (a transfer\'s, or one a payment of no subscription bought), whose days run on under it, the trial ends back into that period, on its plan, if it still runs (or into one paid for after it).',
      params: TenantParams,
      body: Body({
        endsAt: Type.Optional(Type.String({ format: 'date-time', maxLength: 40 })),
        days: Type.Optional(Type.Integer({ minimum: 1, maximum: 366 })),
        plan: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'default: the tenant\'s plan' })),
      }),
      response: { 200: SubscriptionSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => subscriptions.setTrial(request.params.tenantId, request.body, operatorOf(request), ctxOf(request)));

  app.post('/v1/admin/tenants/:tenantId/trial/reset', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'End the trial now: suspended until paid (a priced plan), else active, or canceled if so asked',
      description: 'A trial Stripe or PayPal keeps ends as they say: 409 SUBSCRIPTION_MANAGED_BY_PROVIDER. A trial over a period paid for that still runs ends back into it (active, on its plan).',
      params: TenantParams, response: { 200: SubscriptionSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => subscriptions.endTrial(request.params.tenantId, operatorOf(request), ctxOf(request)));
};
