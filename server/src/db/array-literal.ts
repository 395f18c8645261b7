import { rememberedByString } from '../lib/cache.js';

/**
 * Values as one PostgreSQL array literal (`{"a",NULL,t,10}`), to send a column of many
 * rows as a single parameter (`unnest($1::text[], $2::bigint[], …)`): strings quoted and
 * escaped, numbers and booleans as PostgreSQL reads them, instants in ISO 8601, objects as
 * their JSON (for jsonb[]), null and undefined as NULL.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    out += element(values[i]);
  }
  return `${out}}`;
}

/**
 * Rows as one literal of an array of a composite type (`{"(1,a,,t)",…}`), to send many
 * rows of many columns as a single parameter (`$1::some_type[]`): each row's values in the
 * type's column order, spelled as in `arrayLiteral`, null and undefined as NULL (an empty
 * field; the empty string is `""`). PostgreSQL reads it in one pass, where a JSON document
 * of the same rows is parsed, then looked up by name and converted field by field.
 */
export function compositeArrayLiteral(rows: readonly (readonly unknown[])[]): string {
  let out = '{';
  for (let i = 0; i < rows.length; i++) {
    const values = rows[i]!;
    // The row is quoted as an array element field by field (escaping commutes with joining,
    // and the separators need none): only the fields that hold `"` or `\` are rewritten,
    // where escaping the joined row rewrote all of it whenever one did.
    let row = i > 0 ? ',"(' : '"(';
    for (let j = 0; j < values.length; j++) {
      if (j > 0) row += ',';
      row += elementField(values[j]);
    }
    out += `${row})"`;
  }
  return `${out}}`;
}

/** A value as PostgreSQL's text input reads it; null for NULL. */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string': return value;
    case 'number':
    case 'bigint': return String(value);
    case 'boolean': return value ? 't' : 'f';
    default: return value instanceof Date ? value.toISOString() : JSON.stringify(value);
  }
}

function element(value: unknown): string {
  const text = textOf(value);
  if (text === null) return 'NULL';
  return typeof value === 'string' || typeof value === 'object' ? quoted(text) : text;
}

/** In a composite, a field is quoted when empty (else it is NULL) or when it holds what the row's syntax means. */
const FIELD_SPECIAL = /[",()\\\s]/;

function field(value: unknown): string {
  const text = textOf(value);
  if (text === null) return '';
  return fieldOf(text);
}

function fieldOf(text: string): string {
  return text === '' || FIELD_SPECIAL.test(text) ? quoted(text) : text;
}

/**
 * Small JSON values spelled as a field of a row in an array (quoted twice), by their JSON:
 * a decision's route is one of a few objects call after call, and spelling it was most of
 * a row's cost.
 */
const spelledJson = rememberedByString((json) => escaped(fieldOf(json)));
const SPELLED_JSON_CHARS = 256;

/** A value as a field of a row that is itself an element of an array. */
function elementField(value: unknown): string {
  if (value === null || typeof value !== 'object' || value instanceof Date) return escaped(field(value));
  const json = JSON.stringify(value);
  return json.length > SPELLED_JSON_CHARS ? escaped(fieldOf(json)) : spelledJson(json);
}

const SPECIAL = /["\\]/;

/** Inside double quotes only `"` and `\` are special: braces, commas, spaces and the word NULL are the string itself. */
function quoted(text: string): string {
  return `"${escaped(text)}"`;
}

function escaped(text: string): string {
  // Backslashes first: the quotes' escapes add backslashes of their own.
  return SPECIAL.test(text) ? text.replaceAll('\\', '\\\\').replaceAll('"', '\\"') : text;
}
