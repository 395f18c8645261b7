import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ctxOf, principalOf, tenantHeaderOf } from '../../http/guards.js';
import { enforceRate } from '../../http/rate-limit-hook.js';
import { Body, errors, idOf, NextCursor, Nullable, OnBehalfOfSchema, PageQuery, ShortText, TenantParams } from '../../http/schemas.js';
import { AppError } from '../../lib/errors.js';
import type { Principal, TenantAccess } from '../../lib/principal.js';
import type { Metering } from './service.js';
import type { RateOutcome } from '../ratelimit/index.js';
import { CreditBalanceSchema, IdempotencyKey, LedgerEntrySchema, PreviewBody, ReservationSchema, ResolvedSchema, SettleChargeFields, type ResolveResult } from '../credits/index.js';
import { accessOf, operatorOf } from '../../http/access-hook.js';
import { RouteSchema, type Route } from '../routing/index.js';
import { actingFor, type OnBehalfOf } from '../apikeys/index.js';

export interface CreditsRouteOptions {
  metering: Metering;
  /** The access of `principal` (the caller, or the member a service key acts for) to the tenant its credential implies (routes without {tenantId}). */
  implicitAccess: (principal: Principal, request: FastifyRequest) => Promise<TenantAccess>;
  /** The rate check for closing a reservation: the tenant's own bucket, as big as its authorize bucket (GateService#limitClosing). */
  limitClosing: (access: TenantAccess) => Promise<RateOutcome>;
  /** The route a call of the tenant would take (the decision's one selection): the preview prices the account it runs on. */
  routeOf: (tenantId: string, model: string | undefined) => Promise<Route>;
}

const ReservationParams = Type.Object({ id: idOf('res') });
const LedgerQuery = Type.Object(PageQuery, { additionalProperties: false });
const LedgerPage = Type.Object({ entries: Type.Array(LedgerEntrySchema), nextCursor: NextCursor });

/** A tenant's balance and ledger, for its members. */
const creditReadRoutes: FastifyPluginAsyncTypebox<{ metering: Metering }> = async (app, { metering }) => {
  app.get('/v1/tenants/:tenantId/credits', {
    config: { access: 'member' },
    schema: { tags: ['credits'], summary: 'The tenant\'s credit balance, reserved and available', params: TenantParams, response: { 200: CreditBalanceSchema, ...errors(401, 403, 404) } },
  }, async (request) => {
    const access = accessOf(request);
    return metering.credits(access.tenantId);
  });

  app.get('/v1/tenants/:tenantId/credits/ledger', {
    config: { access: 'member' },
    schema: {
      tags: ['credits'], summary: 'The append-only credit ledger, newest first',
      params: TenantParams, querystring: LedgerQuery, response: { 200: LedgerPage, ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return metering.ledger(access.tenantId, request.query);
  });
};

/** Who is closing (or reading) a reservation, its rate drawn: the caller, or the member a service key names (`onBehalfOf` in a body, else the header). */
type ClosingAccess = (request: FastifyRequest, reply: FastifyReply, onBehalfOf: OnBehalfOf | undefined) => Promise<TenantAccess>;

/** A decision's reservation: read, settled or released by whoever may close it. */
const reservationRoutes: FastifyPluginAsyncTypebox<{ metering: Metering; closingAccess: ClosingAccess }> = async (app, { metering, closingAccess }) => {
  app.get('/v1/reservations/:id', {
    schema: {
      tags: ['credits'],
      summary: 'One reservation: held, or settled (with what was charged), released or expired',
      description: 'For whoever may settle it (its tenant is the caller\'s, as for settle). `held` means a settle can still charge it: one held past its `expiresAt` is expired as it is read, as a settle would. A run whose decision was replayed reads it to know whether its earlier attempt finished.',
      params: ReservationParams, response: { 200: ReservationSchema, ...errors(401, 403, 404) },
    },
    // Drawn from the closing bucket, as settle and release: a run replayed reads it before closing it.
    config: { rateLimit: 'none' },
  }, async (request, reply) => {
    const access = await closingAccess(request, reply, undefined);
    const found = await metering.reservation(access, request.params.id);
    if (!found) throw new AppError('RESERVATION_NOT_FOUND');
    return found;
  });

  app.post('/v1/reservations/:id/settle', {
    schema: {
      tags: ['credits'], summary: 'Charge the actual cost (at most what was reserved); the rest is released. Idempotent.',
      params: ReservationParams,
      body: Body({ ...SettleChargeFields, onBehalfOf: Type.Optional(OnBehalfOfSchema) }),
      response: { 200: ResolvedSchema, ...errors(401, 403, 404, 409) },
    },
    // Without a body: the whole reservation is charged.
    config: { rateLimit: 'none', optionalBody: true },
  }, async (request, reply) => {
    const { onBehalfOf, ...charge } = request.body;
    const access = await closingAccess(request, reply, onBehalfOf);
    return unwrap(await metering.settle(access, request.params.id, charge));
  });

  app.post('/v1/reservations/:id/release', {
    schema: {
      tags: ['credits'], summary: 'Release a reservation without charge. Idempotent.',
      params: ReservationParams, body: Body({ onBehalfOf: Type.Optional(OnBehalfOfSchema) }), response: { 200: ResolvedSchema, ...errors(401, 403, 404, 409) },
    },
    config: { rateLimit: 'none', optionalBody: true },
  }, async (request, reply) => {
    const access = await closingAccess(request, reply, request.body.onBehalfOf);
    return unwrap(await metering.release(access, request.params.id));
  });
};

export const creditsRoutes: FastifyPluginAsyncTypebox<CreditsRouteOptions> = async (app, { metering, implicitAccess, limitClosing, routeOf }) => {
  /**
   * Settle and release are the second half of a decision: drawn from the tenant's closing
   * bucket once the tenant is established (so naming another tenant spends nothing of
   * its), not from the per-principal route bucket, which a backend closing every run it
   * opens would outrun. A service key may name the member it acts for in the body, as it
   * did on /v1/authorize.
   */
  const closingAccess: ClosingAccess = async (request, reply, onBehalfOf) => {
    const access = await implicitAccess(actingFor(principalOf(request), onBehalfOf), request);
    enforceRate(reply, await limitClosing(access));
    return access;
  };

  await app.register(creditReadRoutes, { metering });

  app.post('/v1/costs/preview', {
    schema: {
      tags: ['credits'], summary: 'What an operation would cost on the route the caller\'s tenant would take (its own provider account or the platform\'s); changes nothing',
      body: PreviewBody,
      response: {
        200: Type.Object({
          operation: Type.String(), module: Type.String(), meter: Nullable(Type.String()), credits: Type.Integer(), basis: Type.String(),
          billing: Type.Union([Type.Literal('tenant'), Type.Literal('platform')]),
          route: Nullable(RouteSchema),
        }),
        ...errors(401, 403, 404),
      },
    },
  }, async (request) => {
    principalOf(request);
    const route = await previewRoute(request, request.body.model);
    return { ...metering.previewCost(request.body, route?.billing ?? 'platform'), route };
  });

  /**
   * The route of the tenant the credential implies (as settle's); none (the platform's
   * price) when the credential by itself implies no tenant it may use (a service key acting
   * for no one, a key whose scopes give no role): a price is still worth knowing. A tenant
   * the caller names (Tollgate-Tenant) is held to what the decision holds it to, a
   * malformed id 400 and one it may not use the 404 of a missing one: priced at the
   * platform's price, the mistake went unseen, and the price could be the wrong one.
   */
  const previewRoute = async (request: FastifyRequest, model: string | undefined): Promise<Route | null> => {
    let access: TenantAccess;
    try {
      access = await implicitAccess(principalOf(request), request);
    } catch (error) {
      if (error instanceof AppError && tenantHeaderOf(request) === undefined) return null;
      throw error;
    }
    return routeOf(access.tenantId, model);
  };

  await app.register(reservationRoutes, { metering, closingAccess });
};

function unwrap(result: ResolveResult) {
  if (!result.ok) throw new AppError(result.error);
  return result.value;
}

export interface CreditsAdminRouteOptions {
  metering: Metering;
}

export const creditsAdminRoutes: FastifyPluginAsyncTypebox<CreditsAdminRouteOptions> = async (app, { metering }) => {
  app.get('/v1/admin/tenants/:tenantId/credits', {
    config: { access: 'operator' },
    schema: { tags: ['operator'], summary: 'A tenant\'s credit balance, reserved and available (operator)', params: TenantParams, response: { 200: CreditBalanceSchema, ...errors(401, 403, 404) } },
  }, async (request) => metering.credits(request.params.tenantId));

  app.get('/v1/admin/tenants/:tenantId/credits/ledger', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'A tenant\'s credit ledger, newest first (operator)',
      params: TenantParams, querystring: LedgerQuery, response: { 200: LedgerPage, ...errors(401, 403, 404) },
    },
  }, async (request) => metering.ledger(request.params.tenantId, request.query));

  app.post('/v1/admin/tenants/:tenantId/credits', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Grant credits (or take them away with a negative amount), with a reason; ledgered and audited',
      params: TenantParams,
      body: Body({ amount: Type.Integer({ minimum: -1e12, maximum: 1e12, not: { const: 0 } }), reason: ShortText(500), idempotencyKey: IdempotencyKey }),
      response: { 200: Type.Object({ entry: LedgerEntrySchema, credits: CreditBalanceSchema, replayed: Type.Boolean() }), ...errors(401, 403, 404, 409) },
    },
  }, async (request) => {
    const operatorId = operatorOf(request);
    const result = await metering.adjust(operatorId, request.params.tenantId, request.body, ctxOf(request));
    if (!result.ok) throw new AppError('INSUFFICIENT_CREDITS', `available credits: ${result.error.credits.available}`);
    return result.value;
  });
};
