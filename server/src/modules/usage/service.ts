import type { Readable } from 'node:stream';
import type { Db, Executor } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import { DAY_MS, isStorableInstant, type Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { isInstantText } from '../../lib/rfc3339.js';
import type { Resolution } from '../credits/index.js';
import { EXPORT_MEDIA, exportHeader, pagedStream, renderRecord, toRecordView, type ExportFormat, type ExportOutcome } from './export.js';
import * as repo from './repo.js';

/** A UTC day of a tenant's usage (API.md "Usage, events and webhooks"). */
export interface UsageDay {
  date: string;
  /** Settled runs per meter. */
  meters: Record<string, number>;
  /** Credits charged. */
  credits: number;
  /** Decisions allowed, and denied per code (replays of an earlier decision not counted). */
  allowed: number;
  denied: Record<string, number>;
}

/** What a decision-log row tells the day counts: `calls` decisions (a denial's row counts every one like it, gate/log.ts). */
export interface LoggedDecision { tenantId: string; createdAt: Date; allowed: boolean; code: string; replayed: boolean; calls: number }

export interface UsageOptions {
  /** Records per keyset page of an export. */
  exportPageSize: number;
  /** The longest range, in days (both ends included), a summary or an export may span. */
  maxRangeDays: number;
  /** Told of each page an export reads (tests count them). */
  onExportPage?: (tenantId: string) => void;
}

export interface UsageExport { stream: Readable; contentType: string; filename: string }

const DEFAULT_DAYS = 30;

/** The runs' usage records, the tenants' daily summaries, and their exports. */
export class UsageService {
  constructor(private readonly db: Db, private readonly clock: Clock, private readonly options: UsageOptions) {}

  /** The run's record, in the transaction that resolved its reservation (ReservationsService's listener). */
  async record(tx: Executor, r: Resolution): Promise<void> {
    await repo.insertRecord(tx, {
      tenantId: r.tenantId, id: newId('usg', r.resolvedAt.getTime()), reservationId: r.reservationId, outcome: r.status,
      meter: r.meter, bypass: r.bypass, operation: r.operation, model: r.model, route: r.route, quantity: r.quantity ? { ...r.quantity } : null,
      reserved: r.reserved, credits: r.charged, actorType: r.actorType, actorId: r.actorId, role: r.role,
      idempotencyKey: clientKey(r.idempotencyKey), reservedAt: r.reservedAt, createdAt: r.resolvedAt,
    });
  }

  /**
   * Adds decisions to their days' allowed and denied counts, at the decision log's write:
   * its rows in the transaction that writes them (exactly the rows written), and the
   * allowed decisions it counted (their records are their reservations).
   */
  async countDecisions(tx: Executor, decisions: readonly LoggedDecision[]): Promise<void> {
    const counts = new Map<string, repo.DayCount>();
    for (const d of decisions) {
      if (d.replayed) continue;
      const day = d.createdAt.toISOString().slice(0, 10);
      const key = d.allowed ? 'allowed' : `denied:${d.code}`;
      const id = `${d.tenantId}\u0000${day}\u0000${key}`;
      const count = counts.get(id);
      if (count) count.n += d.calls;
      else counts.set(id, { tenantId: d.tenantId, day, key, n: d.calls });
    }
    await repo.addCounts(tx, [...counts.values()]);
  }

  /**
   * Every UTC day from `from` to `to` (both included; default: the last 30 days), with
   * zeros on quiet days. A date-time names the UTC day it falls in: the summary is per day.
   */
  async summary(tenantId: string, q: Range): Promise<{ days: UsageDay[] }> {
    const { from, to } = this.days(q);
    const rows = await inTenant(this.db, tenantId, (tx) => repo.days(tx, tenantId, from, to));
    const byDate = new Map<string, UsageDay>();
    for (let t = Date.parse(from); t <= Date.parse(to); t += DAY_MS) {
      const date = new Date(t).toISOString().slice(0, 10);
      byDate.set(date, { date, meters: {}, credits: 0, allowed: 0, denied: {} });
    }
    for (const row of rows) {
      const day = byDate.get(row.day);
      if (!day) continue;
      const n = Number(row.n);
      if (row.key === 'credits') day.credits += n;
      else if (row.key === 'allowed') day.allowed += n;
      else if (row.key.startsWith('meter:')) day.meters[row.key.slice(6)] = n;
      else if (row.key.startsWith('denied:')) day.denied[row.key.slice(7)] = n;
    }
    return { days: [...byDate.values()] };
  }

  /**
   * The tenant's records resolved from `from` to `to` (UTC days, both included; a
   * date-time is an instant: `from` included, `to` not), oldest first, as CSV or NDJSON:
   * the settled ones (API.md's export), or with `outcome: 'all'` the released and expired
   * runs too. Each page is read in its own short transaction when the reader asks for
   * more, so an export holds neither a connection nor more than a page or so.
   */
  export(tenantId: string, q: Range & { format: ExportFormat; outcome?: ExportOutcome | undefined }): UsageExport {
    const { start, end, from, to } = this.span(q);
    const outcome = (q.outcome ?? 'settled') === 'all' ? null : 'settled';
    const limit = this.options.exportPageSize;
    const stream = pagedStream<repo.UsageRecordRow>({
      header: exportHeader(q.format),
      pageSize: limit,
      fetch: (after) => {
        this.options.onExportPage?.(tenantId);
        return inTenant(this.db, tenantId, (tx) => repo.recordsPage(tx, { tenantId, start, end, outcome, after, limit }));
      },
      render: (row) => renderRecord(q.format, toRecordView(row)),
    });
    return { stream, contentType: EXPORT_MEDIA[q.format], filename: `usage-${tenantId}-${from}-${to}.${q.format}` };
  }

  /** from/to as UTC days (a date-time: its day), checked as the export checks two dates: in order, at most maxRangeDays apart. */
  private days(q: Range): { from: string; to: string } {
    const { from, to } = this.bounds(q);
    checkedSpan({ day: from.day, at: null }, { day: to.day, at: null }, this.options.maxRangeDays);
    return { from: from.day, to: to.day };
  }

  /** from/to as the instants the export reads between (checkedSpan). */
  private span(q: Range): { start: Date; end: Date; from: string; to: string } {
    const { from, to } = this.bounds(q);
    return checkedSpan(from, to, this.options.maxRangeDays);
  }

  /** from/to read; missing ends default to the last 30 days (with one given, 30 days from or up to its day). */
  private bounds(q: Range): { from: Bound; to: Bound } {
    const given = { from: q.from === undefined ? undefined : boundOf('from', q.from), to: q.to === undefined ? undefined : boundOf('to', q.to) };
    const to = given.to ?? { day: given.from ? dateAfter(given.from.day, DEFAULT_DAYS - 1) : this.clock.now().toISOString().slice(0, 10), at: null };
    const from = given.from ?? { day: dateAfter(to.day, -(DEFAULT_DAYS - 1)), at: null };
    return { from, to };
  }
}

/**
 * from/to as the instants a range reads between, [start, end): a date from the start of
 * its UTC day to the end of it (both days included, as the summary counts them), a
 * date-time from or up to its instant. Checked: in order (a date `to` whose day ends at
 * or before `from` is inverted; instants that meet make an empty export), and at most
 * `maxDays` long. `from` and `to` are spelled for the export file's name.
 */
function checkedSpan(from: Bound, to: Bound, maxDays: number): { start: Date; end: Date; from: string; to: string } {
  const start = from.at ?? Date.parse(from.day);
  const end = to.at ?? Date.parse(to.day) + DAY_MS;
  const [fromText, toText] = [spelled(from), spelled(to)];
  if (!isStorableInstant(start) || !isStorableInstant(end)) {
    throw new AppError('VALIDATION_FAILED', `from (${fromText}) and to (${toText}) must lie between 0001-01-01 and 9999-12-30`);
  }
  if (start > end || (to.at === null && start === end)) throw new AppError('DATE_RANGE_INVERTED', `from (${fromText}) is after to (${toText})`);
  if (end - start > maxDays * DAY_MS) {
    const days = Math.round(((end - start) / DAY_MS) * 100) / 100;
    throw new AppError('DATE_RANGE_TOO_LONG', `${days} days from ${fromText} to ${toText}; at most ${maxDays}`, { maxDays });
  }
  return { start: new Date(start), end: new Date(end), from: fromText, to: toText };
}

/** A usage range as the routes take it: each end a date (YYYY-MM-DD) or an RFC 3339 date-time. */
export interface Range { from?: string | undefined; to?: string | undefined }

/** One end of a range: its UTC day, and the instant a date-time named (null: a date). */
interface Bound { day: string; at: number | null }

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * One end of a range. The routes' formats ('date', 'date-time') have checked it already;
 * an in-process caller (createTollgate().usageSummary) has no schema, so its text is
 * checked here: a date that exists, or a date-time by the routes' own rule (lib/rfc3339.ts).
 */
function boundOf(name: 'from' | 'to', text: string): Bound {
  const at = Date.parse(text);
  const day = isStorableInstant(at) ? new Date(at).toISOString().slice(0, 10) : null;
  if (day !== null && DATE.test(text) && day === text) return { day, at: null };
  if (day !== null && isInstantText(text)) return { day, at };
  throw new AppError('VALIDATION_FAILED', `${name} (${text}) must be a date (YYYY-MM-DD) or an RFC 3339 date-time, from 0001-01-01 to 9999-12-31`);
}

/** A date as it is; an instant in UTC, in ISO 8601's basic format (no colons: a file's name holds it). */
function spelled(b: Bound): string {
  return b.at === null ? b.day : new Date(b.at).toISOString().replace(/[-:]/g, '').replace('.000Z', 'Z');
}

/**
 * The idempotency key as the client sent it: a decision's reservation is keyed
 * `authorize:<key>` (`authorize:<decisionId>` when the call named none: the decision's id
 * stands in); a reservation of the credits API keeps its key as it is.
 */
function clientKey(reservationKey: string): string {
  return reservationKey.startsWith('authorize:') ? reservationKey.slice('authorize:'.length) : reservationKey;
}

function dateAfter(date: string, days: number): string {
  return new Date(Date.parse(date) + days * DAY_MS).toISOString().slice(0, 10);
}
