import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema, type TSchemaOptions } from 'typebox';

/** Shared schema pieces: one error body, id params, pagination. */

/**
 * The one error body. Its `code` is the closed catalog as an enum; app.ts registers it
 * as the shared schema 'ErrorBody' (the catalog joins every module, which import this file).
 */
export function errorBodySchema(codes: readonly string[]) {
  return Type.Object({
    error: Type.Object({
      code: Type.Enum(codes, { description: 'a stable code of the error catalog (docs/errors.md)' }),
      message: Type.String(),
      requestId: Type.String(),
    }),
  }, { $id: 'ErrorBody' });
}

const ErrorBody = Type.Ref('ErrorBody');

export const idOf = (prefix: string) => Type.String({ pattern: `^${prefix}_[0-9A-Z]{26}$`, maxLength: 30 });

export const TenantParams = Type.Object({ tenantId: idOf('tnt') });

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
/** The longest password the routes take; auth.passwordMinLength stays below it, or no password could be set. */
export const PASSWORD_MAX_LENGTH = 256;
export const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });
export const ShortText = (max = 200) => Type.String({ minLength: 1, maxLength: max });
export const RoleSchema = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);

/** A value or null: the one spelling of an optional-but-present field. */
export const Nullable = <T extends TSchema>(schema: T, options?: TSchemaOptions) => Type.Union([schema, Type.Null()], options);

/** The cursor of the next page of a keyset list; null on the last page. */
export const NextCursor = Nullable(Type.String());

export const PageQuery = {
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
};

/** A closed object: unknown fields are an error, not silently dropped. */
export function Body<T extends Record<string, TSchema>>(properties: T) {
  return Type.Object(properties, { additionalProperties: false });
}

/**
 * The member a service key acts for, named in the body (`/v1/authorize`, settle, release,
 * the route's credentials) as the Tollgate-On-Behalf-Of header names one anywhere: a
 * backend closes the runs it opened the way it opened them.
 */
export const OnBehalfOfSchema = Body({ tenantId: idOf('tnt'), userId: idOf('usr') });

/** Error responses to declare on a route, so the OpenAPI document lists them. */
export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  // 429: every route can be throttled (route scopes, unknown keys and tokens failing their
  // check); 503: the database out of reach, a rate store down under a closed scope, an
  // identity provider's keys out of reach.
  return Object.fromEntries([400, 429, 503, ...statuses].map((s) => [s, ErrorBody]));
}

/** The app as a route plugin receives it (TypeBox-typed), for helpers that register a group of a plugin's routes. */
export type TypeBoxApp = Parameters<FastifyPluginAsyncTypebox>[0];
