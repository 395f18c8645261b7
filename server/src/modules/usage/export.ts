import { Readable } from 'node:stream';
import type { UsageRecordRow } from './repo.js';

/** What a usage record says, as the export and its consumers read it. */
export interface UsageRecordView {
  id: string; reservationId: string; outcome: string; createdAt: string; reservedAt: string;
  meter: string | null; bypass: boolean; operation: string | null; model: string | null;
  route: Record<string, unknown> | null; quantity: Record<string, number> | null;
  reserved: number; credits: number;
  actor: { type: string | null; id: string | null }; role: string | null; idempotencyKey: string;
}

export function toRecordView(row: UsageRecordRow): UsageRecordView {
  return {
    id: row.id, reservationId: row.reservationId, outcome: row.outcome, createdAt: row.createdAt.toISOString(), reservedAt: row.reservedAt.toISOString(),
    meter: row.meter, bypass: row.bypass, operation: row.operation, model: row.model, route: row.route, quantity: row.quantity,
    reserved: Number(row.reserved), credits: Number(row.credits), actor: { type: row.actorType, id: row.actorId }, role: row.role,
    idempotencyKey: row.idempotencyKey,
  };
}

export const CSV_COLUMNS = [
  'id', 'reservation_id', 'outcome', 'created_at', 'reserved_at', 'meter', 'bypass', 'operation', 'model', 'route', 'quantity',
  'reserved', 'credits', 'actor_type', 'actor_id', 'role', 'idempotency_key',
] as const;

function csvCells(r: UsageRecordView): (string | number | boolean | null)[] {
  return [
    r.id, r.reservationId, r.outcome, r.createdAt, r.reservedAt, r.meter, r.bypass, r.operation, r.model,
    r.route && JSON.stringify(r.route), r.quantity && JSON.stringify(r.quantity), r.reserved, r.credits,
    r.actor.type, r.actor.id, r.role, r.idempotencyKey,
  ];
}

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF (quotes
 * doubled) — or a semicolon or tab, the separators spreadsheets of many locales split on:
 * unquoted, `run;=1+2` would be two cells there, the second a formula. Text a client chose (operation, model, idempotency key…) that begins with
 * = + - @, a tab or CR is what spreadsheet applications run as a formula when the file
 * is opened (CSV injection, OWASP): such a cell is prefixed with ' so it shows as text.
 * Numbers and booleans are written as they are (a negative number is not text).
 */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",;\t\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export type ExportFormat = 'csv' | 'ndjson';

/**
 * Which records an export carries: `settled` (the default) is API.md's export, every
 * settled usage event; `all` adds the runs that were released or expired (`outcome`).
 */
export type ExportOutcome = 'settled' | 'all';

export const EXPORT_MEDIA: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

export function renderRecord(format: ExportFormat, view: UsageRecordView): string {
  return format === 'csv' ? `${csvCells(view).map(csvField).join(',')}\r\n` : `${JSON.stringify(view)}\n`;
}

export function exportHeader(format: ExportFormat): string {
  return format === 'csv' ? `${CSV_COLUMNS.join(',')}\r\n` : '';
}

/**
 * The export as a byte stream that reads the database a keyset page at a time, and only
 * when its reader wants more: Readable.from pulls the next page when the stream's buffer
 * is below highWaterMark, so a slow reader (a slow socket) holds back the queries and
 * at most about one page is in memory, whatever the export's size.
 */
export function pagedStream<T>(options: {
  header: string;
  fetch: (after: T | undefined) => Promise<T[]>;
  render: (row: T) => string;
  /** A page shorter than this is the last. */
  pageSize: number;
  highWaterMark?: number;
}): Readable {
  async function* pages(): AsyncGenerator<string> {
    if (options.header) yield options.header;
    let after: T | undefined;
    for (;;) {
      const page = await options.fetch(after);
      if (page.length > 0) yield page.map(options.render).join('');
      if (page.length < options.pageSize) return;
      after = page.at(-1);
    }
  }
  return Readable.from(pages(), { objectMode: false, highWaterMark: options.highWaterMark ?? 64 * 1024 });
}
