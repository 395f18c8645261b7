/** The shape of an operator command, and the argument helpers they share. */
import type { Tollgate } from '@tollgate/sdk';
import type { Io } from './io.js';
import { UsageError, type Printer } from './output.js';

export type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

/** One run of a command: its arguments, where to print, and the server. */
export interface Invocation {
  io: Io;
  out: Printer;
  /** The arguments after the command's words. */
  args: string[];
  options: Record<string, string | boolean | undefined>;
  /** The server's URL (see session.ts). */
  url: string;
  /** A client signed in to it (throws NotSignedIn when there is no credential). */
  client(): Tollgate;
}

export interface Command {
  /** The words that name it: `tenants list`. */
  words: string;
  /** Its synopsis after `tollgate `, and a line on what it does. */
  synopsis: string;
  summary: string;
  options?: OptionSpec;
  run(call: Invocation): Promise<void>;
}

/** The argument at `index`, or a usage error naming it. */
export function required(call: Invocation, index: number, name: string): string {
  const value = call.args[index];
  if (value === undefined || value === '') throw new UsageError(`missing ${name}`);
  return value;
}

/** A string option, or a usage error when it is required and missing. */
export function option(call: Invocation, name: string, need: 'required'): string;
export function option(call: Invocation, name: string): string | undefined;
export function option(call: Invocation, name: string, need?: 'required'): string | undefined {
  const value = call.options[name];
  if (typeof value === 'string' && value !== '') return value;
  if (need) throw new UsageError(`missing --${name}`);
  return undefined;
}

/** A whole number from the command line (`what` names it in the error). */
export function integer(value: string, what: string): number;
export function integer(value: string | undefined, what: string): number | undefined;
export function integer(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${what} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

/** One of a few words (`what` names it in the error). */
export function oneOf<const T extends string>(value: string | undefined, allowed: readonly T[], what: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${what} is one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value as T;
}

/** A fresh idempotency key for a write the command makes (the same on every retry of it). */
export function newIdempotencyKey(): string {
  return `cli-${crypto.randomUUID()}`;
}

/** Options every listing command takes. */
export const PAGE_OPTIONS: OptionSpec = { limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } };

/**
 * A listing: one page (`--limit`, `--cursor`), or with `--all` every page from there.
 * With --json prints `{ <key>: [...], nextCursor }`, else the table `render` makes, and
 * on stderr how to ask for the next page.
 */
export async function listing<T>(
  call: Invocation, key: string, fetchPage: (page: { cursor?: string | undefined; limit?: number | undefined }) => Promise<{ items: T[]; nextCursor: string | null }>,
  render: (items: T[]) => string,
): Promise<void> {
  const limit = integer(option(call, 'limit'), '--limit');
  let cursor = option(call, 'cursor');
  const items: T[] = [];
  for (;;) {
    const page = await fetchPage({ cursor, limit });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
    if (!call.options.all || cursor === undefined) break;
  }
  call.out.result({ [key]: items, nextCursor: cursor ?? null }, () => (items.length === 0 ? `no ${key}` : render(items)));
  if (cursor !== undefined && !call.out.json) call.out.note(`more: add --cursor ${cursor} (or --all)`);
}
