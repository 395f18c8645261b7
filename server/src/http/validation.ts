import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
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
 * they only ever arrive as text, an integer only from plain decimal digits.
 */
export function registerValidation(app: FastifyInstance): void {
  const strict = validator(false);
  const lenient = validator(true);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart === 'body') return strict.compile(schema) as never;
    return decimalIntegers(schema as ObjectSchema, lenient.compile(schema)) as never;
  });
}

type ObjectSchema = { properties?: Record<string, { type?: unknown; minimum?: number; exclusiveMinimum?: number }> };

const DIGITS = /^[0-9]+$/;
const SIGNED_DIGITS = /^-?[0-9]+$/;

/**
 * Ajv coerces text to an integer as JavaScript's Number() does, so ?limit=0x10 was 16, and
 * 0b11, 0o7, +3, 1e1, " 1" or "5\n" passed too: one value, many spellings, none of them
 * what a client means to send. An integer parameter takes decimal digits alone, after a
 * '-' only where its schema allows a negative; anything else fails as a wrong type does.
 */
function decimalIntegers(schema: ObjectSchema, validate: ValidateFunction): ValidateFunction {
  const integers = Object.entries(schema?.properties ?? {}).filter(([, property]) => property.type === 'integer').map(([name, property]) => {
    const floor = property.minimum ?? (property.exclusiveMinimum === undefined ? undefined : property.exclusiveMinimum + 1);
    return { name, pattern: floor !== undefined && floor >= 0 ? DIGITS : SIGNED_DIGITS };
  });
  if (integers.length === 0) return validate;
  const checked = ((data: unknown, context?: never) => {
    for (const { name, pattern } of integers) {
      const value = (data as Record<string, unknown> | null)?.[name];
      if (typeof value === 'string' && !pattern.test(value)) {
        checked.errors = [{
          keyword: 'type', instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, params: { type: 'integer' },
          message: pattern === DIGITS ? 'must be an integer in decimal digits' : 'must be an integer in decimal digits, after a - if negative',
        } satisfies ErrorObject];
        return false;
      }
    }
    const valid = validate(data, context);
    checked.errors = validate.errors;
    return valid;
  }) as ValidateFunction;
  // Fastify passes the parent (so that a coerced root can be replaced) only to a function that has this.
  checked.schemaEnv = validate.schemaEnv;
  return checked;
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
