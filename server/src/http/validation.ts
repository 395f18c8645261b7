import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import { isStorableInstant } from '../lib/clock.js';

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

const rfc3339 = fullFormats['date-time'] as { validate: (value: string) => boolean; compare: (a: string, b: string) => number | undefined };

/**
 * A `date-time` is one RFC 3339 spells (ajv-formats) and an instant JavaScript and
 * PostgreSQL both keep: a leap second (23:59:60, NaN to Date.parse) or a year past 9999
 * (by its offset) would pass the format and reach the handler as no date at all.
 */
function withInstants(ajv: Ajv): Ajv {
  return ajv.addFormat('date-time', { type: 'string', validate: (value) => rfc3339.validate(value) && isStorableInstant(Date.parse(value)), compare: rfc3339.compare });
}
