/**
 * Usage per UTC day as a chart, from the API's usage summary (`GET …/usage/summary`:
 * `{days: [{date, meters, credits, allowed, denied}]}`, the last 30 days). A plain member
 * may not read the summary (owner/admin): their page builds the same days from the usage
 * log, which members may read (daysFromUsageEvents).
 */
import { Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { UsageEvent } from './types';

/** One day of the usage summary (API.md "Usage, events and webhooks"). */
export interface UsageDay {
  date: string;
  meters: Record<string, number>;
  credits: number;
  allowed: number;
  denied: Record<string, number>;
}

const DAY_MS = 86_400_000;
const COLORS = ['#2563eb', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be123c'];

/** The UTC dates from `days - 1` days before `until` to `until`, each with nothing counted. */
export function emptyDays(days: number, until: Date = new Date()): UsageDay[] {
  const last = Date.UTC(until.getUTCFullYear(), until.getUTCMonth(), until.getUTCDate());
  return Array.from({ length: days }, (_, i) => ({
    date: new Date(last - (days - 1 - i) * DAY_MS).toISOString().slice(0, 10), meters: {}, credits: 0, allowed: 0, denied: {},
  }));
}

function dayOf(days: UsageDay[], createdAt: string): UsageDay | undefined {
  const date = createdAt.slice(0, 10);
  return days.find((day) => day.date === date);
}

/** Days from the usage log: per meter, what was admitted (role bypasses count nothing). */
export function daysFromUsageEvents(events: UsageEvent[], days: UsageDay[]): UsageDay[] {
  for (const event of events) {
    const day = dayOf(days, event.createdAt);
    if (!day || event.bypass) continue;
    day.meters[event.meter] = (day.meters[event.meter] ?? 0) + event.quantity;
  }
  return days;
}

type Row = { date: string; credits: number } & Record<string, number | string>;

/** Bars per meter (or allowed and denied decisions when the days carry no meters), and credits as a line on its own axis. */
export function UsageChart({ days, title }: { days: UsageDay[]; title: string }) {
  const meters = [...new Set(days.flatMap((day) => Object.keys(day.meters)))].sort();
  const decisions = meters.length === 0;
  const rows: Row[] = days.map((day) => {
    const row: Row = { date: day.date.slice(5), credits: day.credits };
    if (decisions) {
      row.allowed = day.allowed;
      row.denied = Object.values(day.denied).reduce((sum, n) => sum + n, 0);
    } else {
      for (const meter of meters) row[meter] = day.meters[meter] ?? 0;
    }
    return row;
  });
  const bars = decisions ? ['allowed', 'denied'] : meters;
  const showCredits = days.some((day) => day.credits !== 0);
  const total = rows.reduce((sum, row) => sum + bars.reduce((n, bar) => n + Number(row[bar] ?? 0), 0), 0);
  return (
    <figure className="chart" aria-label={title} data-total={total}>
      <figcaption>{title}</figcaption>
      <ResponsiveContainer width="100%" height={260}>
        <ComposedChart data={rows} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e5e7eb" />
          <XAxis dataKey="date" fontSize={12} />
          <YAxis yAxisId="count" allowDecimals={false} fontSize={12} />
          {showCredits ? <YAxis yAxisId="credits" orientation="right" allowDecimals={false} fontSize={12} /> : null}
          <Tooltip />
          <Legend />
          {bars.map((bar, i) => (
            <Bar key={bar} dataKey={bar} yAxisId="count" stackId="count" isAnimationActive={false}
              fill={bar === 'denied' ? '#dc2626' : COLORS[i % COLORS.length]} />
          ))}
          {showCredits ? <Line dataKey="credits" yAxisId="credits" stroke="#111827" dot={false} isAnimationActive={false} /> : null}
        </ComposedChart>
      </ResponsiveContainer>
    </figure>
  );
}
