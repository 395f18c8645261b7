import type { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { accessOf } from '../../http/access-hook.js';
import { errors, TenantParams } from '../../http/schemas.js';
import type { UsageService } from './service.js';

/**
 * A range's end: a UTC date, or an RFC 3339 date-time ('date-time' refuses an instant no
 * database keeps, http/validation.ts). One string type with the two formats as branches,
 * so the generated bad-input suite sends it every bad text a string field gets.
 */
const DayOrInstant = (description: string) => Type.Optional(Type.String({
  maxLength: 40, anyOf: [{ type: 'string', format: 'date' }, { type: 'string', format: 'date-time' }], description,
}));

/** The summary counts whole UTC days: a date-time names the day it falls in. */
const SummaryRange = {
  from: DayOrInstant('first UTC day: YYYY-MM-DD, or an RFC 3339 date-time naming the UTC day it falls in (default: 29 days before `to`)'),
  to: DayOrInstant('last UTC day, included: YYYY-MM-DD, or an RFC 3339 date-time naming the UTC day it falls in (default: today, or 29 days after `from`)'),
};

/** The export reads whole UTC days, or from and up to an instant. */
const ExportRange = {
  from: DayOrInstant('first UTC day (YYYY-MM-DD), or an RFC 3339 date-time: the first instant, included (default: 29 days before `to`)'),
  to: DayOrInstant('last UTC day, included (YYYY-MM-DD), or an RFC 3339 date-time: the instant the export ends at, excluded (default: today, or 29 days after `from`)'),
};

const UsageDaySchema = Type.Object({
  date: Type.String({ description: 'the UTC day, YYYY-MM-DD' }),
  meters: Type.Record(Type.String(), Type.Integer(), { description: 'settled runs per meter' }),
  credits: Type.Integer({ description: 'credits charged' }),
  allowed: Type.Integer({ description: 'decisions allowed' }),
  denied: Type.Record(Type.String(), Type.Integer(), { description: 'decisions denied, per code' }),
});

/** Text the route streams (a Node Readable), described as a string. */
const StreamedText = Type.Unsafe<Readable>({ type: 'string' });

const SummarySchema = Type.Object({ days: Type.Array(UsageDaySchema) });

const summaryRoute = (access: 'admin' | 'operator', tags: string[], summary: string) => ({
  config: { access },
  schema: {
    tags, summary, params: TenantParams, querystring: Type.Object(SummaryRange, { additionalProperties: false }),
    response: { 200: SummarySchema, ...errors(400, 401, 403, 404) },
  },
});

/** A tenant's daily usage summaries (owner/admin, operators) and its export (owner/admin). */
export const usageRoutes: FastifyPluginAsyncTypebox<{ usage: UsageService }> = async (app, { usage }) => {
  app.get('/v1/tenants/:tenantId/usage/summary',
    summaryRoute('admin', ['usage'], 'Per UTC day: settled runs per meter, credits charged, decisions allowed and denied by code (owner/admin)'),
    async (request) => usage.summary(accessOf(request).tenantId, request.query));

  app.get('/v1/admin/tenants/:tenantId/usage/summary',
    summaryRoute('operator', ['operator'], 'A tenant\'s usage per UTC day: runs per meter, credits, decisions allowed and denied'),
    async (request) => usage.summary(request.params.tenantId, request.query));

  app.get('/v1/tenants/:tenantId/usage/export', {
    config: { access: 'admin' },
    schema: {
      tags: ['usage'],
      summary: 'Every settled usage event from..to (UTC days, or instants; with outcome=all, the released and expired runs too), oldest first, streamed as CSV or NDJSON (owner/admin)',
      params: TenantParams,
      querystring: Type.Object({
        format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { description: 'default csv' })),
        outcome: Type.Optional(Type.Union([Type.Literal('settled'), Type.Literal('all')], {
          description: 'default settled: the settled usage events; all: every record, the runs released or expired too (each row says its `outcome`)',
        })),
        ...ExportRange,
      }, { additionalProperties: false }),
      response: {
        200: {
          description: 'the records, one per line (CSV with a header line)',
          content: { 'text/csv': { schema: StreamedText }, 'application/x-ndjson': { schema: StreamedText } },
        },
        ...errors(400, 401, 403, 404),
      },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    const found = usage.export(access.tenantId, { ...request.query, format: request.query.format ?? 'csv', outcome: request.query.outcome ?? 'settled' });
    return reply
      .header('content-type', found.contentType)
      .header('content-disposition', `attachment; filename="${found.filename}"`)
      .header('cache-control', 'no-store')
      .send(found.stream);
  });
};
