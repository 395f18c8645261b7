import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { accessOf, operatorOf } from '../../http/access-hook.js';
import { ctxOf } from '../../http/guards.js';
import { Body, errors, idOf, NextCursor, PageQuery, ShortText, TenantParams } from '../../http/schemas.js';
import type { TenantAccess } from '../../lib/principal.js';
import type { Actor } from '../audit/index.js';
import type { BankTransfers } from './bank-transfer.js';
import type { PaymentsService } from './service.js';
import { PaymentSchema, PaymentWithSubscription } from './views.js';

export interface PaymentRouteOptions {
  payments: PaymentsService;
  transfers: BankTransfers;
  /** Who a tenant principal is in the audit log (tenancy's actorOf, wired by the app). */
  actorOf: (access: TenantAccess) => Actor;
}

const PlanName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' });
const PaymentList = Type.Object({ payments: Type.Array(PaymentSchema), nextCursor: NextCursor });
const PaymentParams = Type.Object({ tenantId: idOf('tnt'), paymentId: idOf('pay') });

export const paymentRoutes: FastifyPluginAsyncTypebox<PaymentRouteOptions> = async (app, { payments, transfers, actorOf }) => {
  app.post('/v1/tenants/:tenantId/subscription/bank-transfer', {
    config: { access: 'admin', whileUnpaid: true },
    schema: {
      tags: ['billing'], summary: 'Ask for a plan by bank transfer (owner/admin): the subscription waits in pending_payment; quote the reference',
      description: 'Asked for while a paid period runs (a transfer\'s, or one a payment of no subscription bought), the transfer is for the period after it: the subscription stays active on its plan until that period ends, and the confirmed transfer opens the next one where it ends.',
      params: TenantParams, body: Body({ plan: PlanName }),
      response: {
        201: Type.Object({ paymentId: Type.String(), reference: Type.String(), amount: Type.Integer(), currency: Type.String(), plan: Type.String() }),
        ...errors(401, 403, 404, 409),
      },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    reply.code(201);
    return transfers.request(access.tenantId, request.body.plan, actorOf(access), ctxOf(request));
  });

  app.get('/v1/tenants/:tenantId/payments', {
    config: { access: 'admin', whileUnpaid: true },
    schema: {
      tags: ['billing'], summary: 'The tenant\'s payments, newest first (owner/admin)',
      params: TenantParams, querystring: Type.Object(PageQuery, { additionalProperties: false }), response: { 200: PaymentList, ...errors(401, 403, 404) },
    },
  }, async (request) => payments.list(request.params.tenantId, request.query));

  app.get('/v1/admin/tenants/:tenantId/payments', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'A tenant\'s payments, newest first',
      params: TenantParams, querystring: Type.Object(PageQuery, { additionalProperties: false }), response: { 200: PaymentList, ...errors(401, 403, 404) },
    },
  }, async (request) => payments.list(request.params.tenantId, request.query));

  app.post('/v1/admin/tenants/:tenantId/payments/bank-transfer', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'],
      summary: 'Confirm a bank transfer: payment recorded, subscription active on a new period, credits granted, audited — once per externalPaymentId',
      params: TenantParams,
      body: Body({
        externalPaymentId: ShortText(200),
        amount: Type.Integer({ minimum: 1, maximum: 1e12, description: 'received, in the currency\'s minor unit' }),
        currency: Type.String({ pattern: '^[A-Z]{3}$' }),
        payerName: ShortText(200),
        proofUrl: Type.Optional(Type.String({ format: 'uri', maxLength: 2000, pattern: '^https?://' })),
        plan: Type.Optional(PlanName),
        periods: Type.Optional(Type.Integer({ minimum: 1, maximum: 36, description: 'billing periods paid for (default 1, or what was asked for)' })),
        paymentId: Type.Optional(idOf('pay')),
      }),
      response: { 200: PaymentWithSubscription, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => transfers.confirm(request.params.tenantId, request.body, operatorOf(request), ctxOf(request)));

  app.post('/v1/admin/tenants/:tenantId/payments/:paymentId/reject', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Reject the transfer awaited, with a reason: the subscription goes back to what it was before it was asked for',
      params: PaymentParams, body: Body({ reason: ShortText(500) }),
      response: { 200: PaymentWithSubscription, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => transfers.reject(request.params.tenantId, request.params.paymentId, request.body.reason, operatorOf(request), ctxOf(request)));
};
