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

function element(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (typeof value) {
    case 'string': return quoted(value);
    case 'number':
    case 'bigint': return String(value);
    case 'boolean': return value ? 't' : 'f';
    default: return value instanceof Date ? value.toISOString() : quoted(JSON.stringify(value));
  }
}

const SPECIAL = /["\\]/;
const SPECIALS = /["\\]/g;

/** Inside double quotes only `"` and `\` are special: braces, commas, spaces and the word NULL are the string itself. */
function quoted(text: string): string {
  return `"${SPECIAL.test(text) ? text.replace(SPECIALS, '\\$&') : text}"`;
}
