/**
 * `tg.run(operation, options, async (run) => …)`: reserve before the AI call, settle or
 * release after it — the Python SDK's `with tg.run(…) as run:`.
 *
 * - Refused: throws `Denied` (code and decision) before `work` runs; nothing was consumed.
 * - Replayed (an `idempotencyKey` used before: the server answers the first decision and
 *   admits nothing more): its reservation is read first. Still held, the earlier attempt
 *   never closed it (it crashed, or lost the answer): `work` runs and settles it
 *   (`run.resumed` is true). Settled, released or expired, that run is over: throws
 *   `AlreadyResolved` (status, and what was charged) before `work` runs — one charge
 *   never buys the work twice, and a given-up attempt is not redone where it could not
 *   be settled. A run still in flight under the same key also reads as held: one key,
 *   one run at a time.
 * - `work` resolves: the reservation is settled with what `run.report()` said last, or,
 *   when nothing was reported, with the whole reserved amount (the work was done, and what
 *   was reserved is what the caller asked to be allowed; a forgotten `report()` must not
 *   make runs free). A settle that fails throws (the value is then lost with it).
 * - `work` throws: the reservation is released (nothing charged; the run counts against
 *   `runs` all the same, since it was admitted) and the error is rethrown. A release that
 *   fails is not thrown over it: the reservation then expires on its own after the
 *   server's `metering.reservationTtlSeconds`.
 *
 * The caller's `signal` bounds the decision (and a replay's read) only: a reservation is closed even when the
 * caller has given up, or it would stay held until it expires.
 */
import type { AuthorizeOptions, CallOptions, SettleOptions } from './client.js';
import type { Decision } from './decision.js';
import { AlreadyResolved, Denied, TollgateError } from './errors.js';
import type { Quantity, Reservation, Resolution } from './schema.js';

export type RunOptions = AuthorizeOptions;

/** What a run used: a quantity to price (`{ words: 900 }`), or credits; given both, credits are charged. */
export interface RunReport { quantity?: Quantity | undefined; credits?: number | undefined }

/** The admitted run, as `work` sees it. */
export interface Run {
  readonly decision: Decision;
  /** null when the operation held nothing (then there is nothing to settle). */
  readonly reservationId: string | null;
  /** True when the decision was a replay whose reservation was still held: this run finishes an earlier attempt's. */
  readonly resumed: boolean;
  /** What the run actually used, charged when `work` resolves; a later report replaces this one. */
  report(used: RunReport): void;
}

export type RunWork<T> = (run: Run) => T | Promise<T>;

export interface RunOutcome<T> {
  /** What `work` resolved with. */
  value: T;
  decision: Decision;
  /** The settled reservation and the balance after it (null when nothing was held). */
  settlement: Resolution | null;
}

/** The calls a run makes (the client's). */
export interface RunClient {
  authorize(operation: string, options: AuthorizeOptions): Promise<Decision>;
  settle(reservationId: string, options: SettleOptions): Promise<Resolution>;
  release(reservationId: string, options: CallOptions): Promise<Resolution>;
  reservation(reservationId: string, options: CallOptions): Promise<Reservation>;
}

export async function runWith<T>(client: RunClient, operation: string, options: RunOptions, work: RunWork<T>): Promise<RunOutcome<T>> {
  const decision = await client.authorize(operation, options);
  if (!decision.allowed) throw new Denied(decision);
  const reservationId = decision.reservation?.id ?? null;
  const acting: CallOptions = { tenantId: options.tenantId, onBehalfOf: options.onBehalfOf };
  // An admitted decision always holds a reservation; a replayed one may name a run that has ended.
  const resumed = decision.replayed === true && reservationId !== null;
  if (resumed) {
    const reservation = await client.reservation(reservationId, { ...acting, signal: options.signal });
    if (reservation.status !== 'held') throw new AlreadyResolved(decision, reservation);
  }
  let reported: RunReport = {};
  const run: Run = {
    decision,
    reservationId,
    resumed,
    report(used) {
      if (used.quantity === undefined && used.credits === undefined) throw new TypeError('report a quantity or credits');
      reported = { quantity: used.quantity, credits: used.credits };
    },
  };
  let value: T;
  try {
    value = await work(run);
  } catch (error) {
    if (reservationId !== null) await releaseQuietly(client, reservationId, acting);
    throw error;
  }
  const settlement = reservationId === null ? null : await client.settle(reservationId, { ...acting, ...reported });
  return { value, decision, settlement };
}

async function releaseQuietly(client: RunClient, reservationId: string, acting: CallOptions): Promise<void> {
  try {
    await client.release(reservationId, acting);
  } catch (failure) {
    if (!(failure instanceof TollgateError)) throw failure;
  }
}
