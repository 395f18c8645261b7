import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { PlansService } from './service.js';
import { Nullable } from '../../http/schemas.js';

const PlanView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  default: Type.Boolean(),
  enterprise: Type.Boolean(),
  limits: Type.Record(Type.String(), Nullable(Type.Integer())),
  concurrentRuns: Nullable(Type.Integer()),
  creditsPerPeriod: Type.Integer(),
  modules: Type.Array(Type.String()),
  features: Type.Array(Type.String()),
  models: Type.Array(Type.String()),
  price: Nullable(Type.Object({ amount: Type.Integer(), currency: Type.String(), interval: Type.String() }, { description: 'per billing period, in the currency\'s minor unit; null: free' })),
  byoProvider: Type.Boolean({ description: 'tenants on the plan may route calls to their own provider account (PUT /v1/tenants/{tenantId}/routes/{name})' }),
});

export const plansRoutes: FastifyPluginAsyncTypebox<{ plans: PlansService }> = async (app, { plans }) => {
  app.get('/v1/plans', {
    config: { auth: 'public' },
    schema: {
      tags: ['plans'],
      summary: 'The plan catalog: limits, features, modules, models, credits per period',
      response: {
        200: Type.Object({
          plans: Type.Array(PlanView),
          modules: Type.Array(Type.String()),
          operations: Type.Array(Type.Object({
            name: Type.String(),
            module: Type.String(),
            meter: Nullable(Type.String()),
            aliases: Type.Array(Type.String()),
            cost: Type.Record(Type.String(), Type.Unknown()),
          })),
        }),
      },
    },
  }, async () => ({
    plans: plans.list().map((p) => ({
      id: p.id,
      name: p.name ?? p.id,
      default: p.default === true,
      enterprise: p.enterprise,
      limits: p.limits,
      concurrentRuns: p.concurrentRuns,
      creditsPerPeriod: p.creditsPerPeriod,
      modules: p.modules,
      features: p.features,
      models: p.models,
      price: p.price ?? null,
      byoProvider: p.byoProvider,
    })),
    modules: [...plans.modules()],
    operations: Object.entries(plans.operations()).map(([name, op]) => ({
      name, module: op.module, meter: op.meter ?? null, aliases: op.aliases ?? [], cost: { ...op.cost },
    })),
  }));
};
