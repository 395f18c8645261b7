import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import { compareDateTimes, isInstantText } from '../lib/rfc3339.js';

// ajv-formats ships CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

const common: Options = { allErrors: false, strict: false, removeAdditional: false, useDefaults: true, validateFormats: true };

/**
 * Bodies are validated strictly: no type coercion ("123" is not a number) and unknown
 * fields are rejected rather than dropped. Path and query strings are coerced, since
 * they only ever arrive as text.
 */
export function registerValidation(app: FastifyInstance): void {
  const strict = validator(false);
  const lenient = validator(true);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : lenient;
    return ajv.compile(schema) as never;
  });
}

const validator = (coerceTypes: boolean): Ajv => withInstants(addFormats(new Ajv({ ...common, coerceTypes })));

let bodies: Ajv | undefined;

/**
 * Whether a value passes `schema` as a field of a request body would: for a value that
 * arrives another way but must meet the same rule (the bootstrap operator's email and
 * password, from the environment, must be ones the sign-in route takes).
 */
export function passesAsBody(schema: TSchema, value: unknown): boolean {
  bodies ??= validator(false);
  return bodies.validate(schema, value);
}

/** A `date-time` is an instant as lib/rfc3339.ts says: one RFC 3339 spells and the database keeps. */
function withInstants(ajv: Ajv): Ajv {
  return ajv.addFormat('date-time', { type: 'string', validate: isInstantText, compare: compareDateTimes });
}
