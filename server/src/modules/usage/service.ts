import type { Readable } from 'node:stream';
import type { Db, Executor } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import { DAY_MS, isStorableInstant, type Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
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

  /** Every UTC day from `from` to `to` (both included; default: the last 30 days), with zeros on quiet days. */
  async summary(tenantId: string, q: { from?: string | undefined; to?: string | undefined }): Promise<{ days: UsageDay[] }> {
    const { from, to } = this.range(q);
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
   * The tenant's records resolved from `from` to `to` (UTC days, both included), oldest
   * first, as CSV or NDJSON: the settled ones (API.md's export), or with `outcome: 'all'`
   * the released and expired runs too. Each page is read in its own short transaction when
   * the reader asks for more, so an export holds neither a connection nor more than a page or so.
   */
  export(tenantId: string, q: { format: ExportFormat; outcome?: ExportOutcome | undefined; from?: string | undefined; to?: string | undefined }): UsageExport {
    const { from, to } = this.range(q);
    const start = new Date(Date.parse(from));
    const end = new Date(Date.parse(to) + DAY_MS);
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

  /** from/to as dates, checked: in order, at most maxRangeDays apart; missing ends default to the last 30 days. */
  private range(q: { from?: string | undefined; to?: string | undefined }): { from: string; to: string } {
    const today = this.clock.now().toISOString().slice(0, 10);
    const to = q.to ?? (q.from ? dateAfter(q.from, DEFAULT_DAYS - 1) : today);
    const from = q.from ?? dateAfter(to, -(DEFAULT_DAYS - 1));
    // The range's first instant and the end of its last day, as the queries take them.
    if (!isStorableInstant(Date.parse(from)) || !isStorableInstant(Date.parse(to) + DAY_MS)) {
      throw new AppError('VALIDATION_FAILED', `from (${from}) and to (${to}) must lie between 0001-01-01 and 9999-12-30`);
    }
    if (from > to) throw new AppError('DATE_RANGE_INVERTED', `from (${from}) is after to (${to})`);
    const days = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
    if (days > this.options.maxRangeDays) {
      throw new AppError('DATE_RANGE_TOO_LONG', `${days} days from ${from} to ${to}; at most ${this.options.maxRangeDays}`, { maxDays: this.options.maxRangeDays });
    }
    return { from, to };
  }
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
