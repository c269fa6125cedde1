// Time ranges (relative like "Last 1 hour" or absolute from/to), the local-or-UTC preference,
// and how timestamps are shown.
import { useEffect, useState } from 'preact/hooks';

/** A relative range ending now. `step` is the histogram bucket width for it. */
export interface TimeRange {
  key: string;
  label: string;
  seconds: number;
  step: number;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** Seconds in a duration like `90s`, `15m`, `6h`, `2d`; undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2]!]!;
  return n > 0 ? n : undefined;
}

/** `15m`, `1h`, `2d` for a number of seconds (the largest unit that divides it). */
export function formatDuration(seconds: number): string {
  for (const [u, n] of [['w', 7 * 86400], ['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= n && seconds % n === 0) return `${seconds / n}${u}`;
  }
  return `${Math.round(seconds)}s`;
}

const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** A round step giving about `buckets` buckets over `seconds`. */
export function niceStep(seconds: number, buckets = 60): number {
  const raw = seconds / buckets;
  return NICE_STEPS.find((s) => s >= raw) ?? Math.ceil(raw / 86400) * 86400;
}

function relative(key: string, label?: string): TimeRange | undefined {
  const seconds = parseDuration(key);
  if (seconds === undefined) return undefined;
  return { key, label: label ?? `Last ${key}`, seconds, step: niceStep(seconds) };
}

export const timeRanges: TimeRange[] = [
  { key: '5m', label: 'Last 5 minutes', seconds: 300, step: 5 },
  { key: '15m', label: 'Last 15 minutes', seconds: 15 * 60, step: 15 },
  { key: '30m', label: 'Last 30 minutes', seconds: 30 * 60, step: 30 },
  { key: '1h', label: 'Last 1 hour', seconds: 3600, step: 60 },
  { key: '3h', label: 'Last 3 hours', seconds: 3 * 3600, step: 3 * 60 },
  { key: '6h', label: 'Last 6 hours', seconds: 6 * 3600, step: 5 * 60 },
  { key: '12h', label: 'Last 12 hours', seconds: 12 * 3600, step: 10 * 60 },
  { key: '24h', label: 'Last 24 hours', seconds: 24 * 3600, step: 15 * 60 },
  { key: '2d', label: 'Last 2 days', seconds: 2 * 86400, step: 30 * 60 },
  { key: '7d', label: 'Last 7 days', seconds: 7 * 86400, step: 2 * 3600 },
];

export const defaultRange: TimeRange = timeRanges[3]!;

/** The listed range for `key`, or any duration like `45m`. */
export function rangeByKey(key: string | null): TimeRange | undefined {
  if (!key) return undefined;
  return timeRanges.find((r) => r.key === key) ?? relative(key);
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

/** What the time picker chose: a relative range, or a fixed window (Unix seconds). */
export type RangeSpec =
  | { kind: 'relative'; range: TimeRange }
  | { kind: 'absolute'; start: number; end: number };

/** Reads `from`/`to` (Unix seconds or RFC 3339) or else `range` from URL parameters. */
export function readRange(p: URLSearchParams, fallback: TimeRange = defaultRange): RangeSpec {
  const from = parseInstant(p.get('from'));
  const to = parseInstant(p.get('to'));
  if (from !== undefined && to !== undefined && to > from) return { kind: 'absolute', start: from, end: to };
  return { kind: 'relative', range: rangeByKey(p.get('range')) ?? fallback };
}

/** Writes `spec` into URL parameters (`range=1h`, or `from=…&to=…`). */
export function writeRange(p: URLSearchParams, spec: RangeSpec): void {
  p.delete('range');
  p.delete('from');
  p.delete('to');
  if (spec.kind === 'relative') p.set('range', spec.range.key);
  else {
    p.set('from', String(Math.floor(spec.start)));
    p.set('to', String(Math.ceil(spec.end)));
  }
}

/** The window a spec covers now, with a histogram step of about 60 buckets. */
export function resolveRange(spec: RangeSpec, nowMs: number = Date.now()): { start: number; end: number; step: number } {
  if (spec.kind === 'relative') return { ...windowFor(spec.range, nowMs), step: spec.range.step };
  const step = niceStep(spec.end - spec.start);
  return { start: spec.start, end: spec.end, step };
}

/** Unix seconds from `1764000000`, `1764000000.5` or an RFC 3339 / `YYYY-MM-DD HH:MM` text. */
export function parseInstant(text: string | null | undefined, utc: boolean = isUTC()): number | undefined {
  if (!text) return undefined;
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const ms = Date.parse(t.includes('T') || !t.includes(' ') ? t : t.replace(' ', 'T') + (utc && !/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? 'Z' : ''));
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/**
 * Milliseconds since the epoch for an RFC 3339 timestamp. JavaScript dates hold milliseconds,
 * so digits past the third fractional one are dropped (not rounded) before parsing.
 */
export function parseTimestamp(ts: string): number {
  const trimmed = ts.replace(/(\.\d{3})\d+/, '$1');
  return Date.parse(trimmed);
}

// ---- local time or UTC ------------------------------------------------------------------------

const TZ_KEY = 'lookout.tz';
const TZ_EVENT = 'lookout:tz';

/** Whether times are shown in UTC (a preference kept in this browser). */
export function isUTC(): boolean {
  try {
    return localStorage.getItem(TZ_KEY) === 'utc';
  } catch {
    return false;
  }
}

export function setUTC(utc: boolean): void {
  try {
    localStorage.setItem(TZ_KEY, utc ? 'utc' : 'local');
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  window.dispatchEvent(new Event(TZ_EVENT));
}

/** The UTC preference, re-rendering when it changes. */
export function useUTC(): boolean {
  const [utc, set] = useState(isUTC);
  useEffect(() => {
    const update = () => set(isUTC());
    window.addEventListener(TZ_EVENT, update);
    return () => window.removeEventListener(TZ_EVENT, update);
  }, []);
  return utc;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `2026-11-22 11:00:00.123` for epoch milliseconds, in local time or UTC per the preference. */
export function formatMs(ms: number, { millis = true, utc = isUTC() } = {}): string {
  const d = new Date(ms);
  const [y, mo, da, h, mi, s, msec] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  return `${y}-${pad(mo + 1)}-${pad(da)} ${pad(h)}:${pad(mi)}:${pad(s)}${millis ? `.${pad(msec, 3)}` : ''}`;
}

/** An RFC 3339 timestamp shown per the preference; the input unchanged if unparseable. */
export function formatLocal(ts: string): string {
  const ms = parseTimestamp(ts);
  if (Number.isNaN(ms)) return ts;
  return formatMs(ms);
}

/** "3 s ago", "5 min ago", "2 h ago", "4 d ago". */
export function ago(seconds: number): string {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** Label of a range spec for buttons: "Last 1 hour" or "2026-11-22 10:00 → 11:00". */
export function rangeLabel(spec: RangeSpec): string {
  if (spec.kind === 'relative') return spec.range.label;
  const a = formatMs(spec.start * 1000, { millis: false });
  const b = formatMs(spec.end * 1000, { millis: false });
  return `${a} → ${a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b}`;
}
