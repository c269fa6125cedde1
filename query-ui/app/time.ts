// Relative time ranges ("Last 1 hour") and how timestamps are shown.

/** A relative range the time picker offers. `step` is the histogram bucket width. */
export interface TimeRange {
  key: string;
  label: string;
  seconds: number;
  step: number;
}

export const timeRanges: TimeRange[] = [
  { key: '15m', label: 'Last 15 minutes', seconds: 15 * 60, step: 15 },
  { key: '1h', label: 'Last 1 hour', seconds: 3600, step: 60 },
  { key: '6h', label: 'Last 6 hours', seconds: 6 * 3600, step: 5 * 60 },
  { key: '24h', label: 'Last 24 hours', seconds: 24 * 3600, step: 15 * 60 },
  { key: '7d', label: 'Last 7 days', seconds: 7 * 86400, step: 2 * 3600 },
];

export const defaultRange: TimeRange = timeRanges[1]!;

export function rangeByKey(key: string | null): TimeRange | undefined {
  return timeRanges.find((r) => r.key === key);
}

/**
 * The window [start, end) for `range` ending now, in Unix seconds. The end is rounded up to
 * a whole bucket so that histogram buckets fall on round times and include the last second.
 */
export function windowFor(range: TimeRange, nowMs: number = Date.now()): { start: number; end: number } {
  const now = Math.floor(nowMs / 1000);
  const end = Math.ceil((now + 1) / range.step) * range.step;
  return { start: end - range.seconds, end };
}

/**
 * Milliseconds since the epoch for an RFC 3339 timestamp. JavaScript dates hold milliseconds,
 * so digits past the third fractional one are dropped (not rounded) before parsing.
 */
export function parseTimestamp(ts: string): number {
  const trimmed = ts.replace(/(\.\d{3})\d+/, '$1');
  return Date.parse(trimmed);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `2026-11-22 11:00:00.123` in the browser's time zone; the input unchanged if unparseable. */
export function formatLocal(ts: string): string {
  const ms = parseTimestamp(ts);
  if (Number.isNaN(ms)) return ts;
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}
