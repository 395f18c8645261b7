/** Injected everywhere time matters so tests move time instead of sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A day in milliseconds (UTC days: no daylight saving). */
export const DAY_MS = 86_400_000;

/**
 * An instant PostgreSQL takes as the ISO text toISOString() spells: years 1 to 9999.
 * JavaScript's dates reach further (year 0, six-digit years), which timestamptz refuses
 * as text — so an instant a client chose is checked before it reaches a query.
 */
export function isStorableInstant(ms: number): boolean {
  if (!Number.isFinite(ms)) return false;
  const year = new Date(ms).getUTCFullYear();
  return year >= 1 && year <= 9999;
}

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  private current: number;
  constructor(start: Date | string | number = '2026-01-15T12:00:00.000Z') {
    this.current = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  set(to: Date | string | number): void {
    this.current = new Date(to).getTime();
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
