import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { AppError } from './errors.js';

/**
 * A route's schema as the check of the same value handed over in-process (the embedded
 * library's calls, which no route validates), so that both paths answer the same:
 * compiled once, here; a value the route would refuse throws the VALIDATION_FAILED its
 * 400 is, naming the first field at fault as that does (`request.quantity.words: must be
 * >= 0`), before anything is read or written.
 */
export function checkedAs<T extends TSchema>(schema: T, what: string): (value: unknown) => Static<T> {
  const validator = Compile(schema);
  return (value) => {
    if (validator.Check(value)) return value as Static<T>;
    const errors = [...validator.Errors(value)];
    // An unknown field fails twice: as a field no schema allows, then as its object's; the second names it.
    const first = errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
    const path = (first?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const extra = (first?.params as { additionalProperties?: string[] } | undefined)?.additionalProperties?.[0];
    const field = extra === undefined ? path : `${path ? `${path}.` : ''}${extra}`;
    throw new AppError('VALIDATION_FAILED', `${what}${field ? `.${field}` : ''}: ${first?.message ?? 'invalid'}`);
  };
}
