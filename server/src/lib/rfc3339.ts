import { fullFormats } from 'ajv-formats/dist/formats.js';
import { isStorableInstant } from './clock.js';

const dateTime = fullFormats['date-time'] as { validate: (value: string) => boolean; compare: (a: string, b: string) => number | undefined };

/**
 * Whether `text` is a date-time RFC 3339 spells (ajv-formats' rule, which requires an
 * offset: Date.parse would read a time without one as local time) and an instant
 * JavaScript and PostgreSQL both keep: a leap second (23:59:60, NaN to Date.parse) or a
 * year past 9999 (by its offset) spells a date-time but names no instant. The routes'
 * `date-time` format (http/validation.ts) and in-process callers' text go by it alike.
 */
export function isInstantText(text: string): boolean {
  return dateTime.validate(text) && isStorableInstant(Date.parse(text));
}

/** RFC 3339 date-times in time order (ajv's formatMinimum and the like). */
export const compareDateTimes = dateTime.compare;
