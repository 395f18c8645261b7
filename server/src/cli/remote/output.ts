/** What the operator commands print, and the exit codes scripts can rely on (docs/cli.md). */
import { TollgateConnectionError, TollgateError } from '@tollgate/sdk';
import type { Io } from './io.js';

export const EXIT = {
  /** Done. */
  OK: 0,
  /** The server refused the request (a 4xx other than 401: not found, forbidden, conflict, invalid, rate limited). */
  REFUSED: 1,
  /** The command line is wrong (unknown command or option, a missing or malformed argument). */
  USAGE: 2,
  /** The server could not be reached, did not answer in time, or failed (5xx), after the client's retries. */
  UNAVAILABLE: 3,
  /** No credential, or the server did not accept it (401): `tollgate login` again, or set TOLLGATE_TOKEN. */
  UNAUTHENTICATED: 4,
  /** A fault of the CLI itself (its stack is printed): please report it. */
  INTERNAL: 5,
} as const;

/** A wrong command line: said with the command's usage, exit 2. */
export class UsageError extends Error {}
/** No credential for the server: exit 4. */
export class NotSignedIn extends Error {}

export interface Printer {
  json: boolean;
  /** Prints `data` as JSON with --json, else what `human` makes of it. */
  result(data: unknown, human: () => string): void;
  /** A remark for people (a next page, a warning): on stderr, so stdout stays the result. */
  note(text: string): void;
}

export function printer(io: Io, json: boolean): Printer {
  return {
    json,
    result: (data, human) => io.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : ensureNewline(visibleLines(human()))),
    note: (text) => io.stderr.write(ensureNewline(visibleLines(text))),
  };
}

/** C0 and C1 control characters: ESC, BEL, CR, backspace, CSI, OSC… — what a terminal obeys instead of showing. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * `text` with each control character written out (ESC as the four characters `\x1b`).
 * Human output shows tenants' names, reasons and messages: written raw, a name could
 * move the cursor over other rows, set the terminal's title or plant a link (OSC 8).
 * With --json nothing is changed: JSON escapes them itself. A value a result line is
 * made of (a tenant's name in `… (NAME) is suspended`) goes through it where it is put
 * in, so its line breaks too are written out and it cannot forge a line.
 */
export function visible(text: string): string {
  return text.replace(CONTROL, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The same, keeping the line breaks the CLI writes between lines (a value's own are escaped where it is put in: a cell of table or fields, visible()). */
function visibleLines(text: string): string {
  return text.split('\n').map(visible).join('\n');
}

/** Says what went wrong (as JSON with --json: `{error: {code, message, status, requestId}}`) and answers the exit code. */
export function failed(io: Io, json: boolean, error: unknown, usage: string): number {
  const [exit, code, status, requestId] = classify(error);
  const message = error instanceof Error ? error.message : String(error);
  if (exit === EXIT.INTERNAL) {
    io.stderr.write(`tollgate: internal error: ${visibleLines(String(error instanceof Error ? error.stack : message))}\n`);
    return exit;
  }
  if (json) {
    io.stderr.write(`${JSON.stringify({ error: { code, message, status, requestId } })}\n`);
  } else {
    const where = [status !== null ? `status ${status}` : null, requestId ? `request ${requestId}` : null].filter(Boolean).join(', ');
    const named = error instanceof TollgateError && code ? `${code}: ` : '';
    io.stderr.write(`tollgate: ${visible(`${named}${message}`)}${where ? ` (${where})` : ''}\n`);
    if (exit === EXIT.USAGE) io.stderr.write(`\n${usage}\n`);
  }
  return exit;
}

function classify(error: unknown): [number, string | null, number | null, string | null] {
  if (error instanceof UsageError) return [EXIT.USAGE, 'USAGE', null, null];
  if (error instanceof NotSignedIn) return [EXIT.UNAUTHENTICATED, 'NOT_SIGNED_IN', null, null];
  if (error instanceof TollgateConnectionError) return [EXIT.UNAVAILABLE, null, null, null];
  if (error instanceof TollgateError) {
    const exit = error.status === 401 ? EXIT.UNAUTHENTICATED : error.status !== null && error.status >= 500 ? EXIT.UNAVAILABLE : EXIT.REFUSED;
    return [exit, error.code, error.status, error.requestId];
  }
  return [EXIT.INTERNAL, null, null, null];
}

/** Rows under a header, each column as wide as its widest cell, each cell on its row's line. */
export function table(header: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(shown))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column]?.length ?? 0)));
  return cells.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}

/** `name: value` lines, the names aligned. */
export function fields(entries: [string, string | number | boolean | null | undefined][]): string {
  const width = Math.max(...entries.map(([name]) => name.length)) + 1;
  return entries.map(([name, value]) => `${`${name}:`.padEnd(width)} ${shown(value)}`).join('\n');
}

/** A value as a cell: `-` for nothing, control characters (a line break too) written out. */
function shown(value: string | number | boolean | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : visible(String(value));
}

/** An ISO instant as `YYYY-MM-DD HH:MM:SS` UTC (the server's timestamps are UTC). */
export function when(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '') : '-';
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
