// The Logs page's state as it appears in the URL: /logs?q=<query>&range=<key> or
// &from=<unix>&to=<unix> for a fixed window, and live=1 while tailing.
import { readRange, writeRange, type RangeSpec } from '../../time';

export interface LogsParams {
  /** The log query; empty matches everything. */
  q: string;
  range: RangeSpec;
  live: boolean;
}

export function readParams(search: string): LogsParams {
  const p = new URLSearchParams(search);
  return { q: p.get('q') ?? '', range: readRange(p), live: p.get('live') === '1' };
}

/** The URL for `params`, always naming the range so that a link means the same later. */
export function paramsURL(params: LogsParams): string {
  const p = new URLSearchParams();
  if (params.q) p.set('q', params.q);
  writeRange(p, params.range);
  if (params.live) p.set('live', '1');
  return `/logs?${p}`;
}

/** A value as the query language reads it: bare when it is a plain word or number, else quoted. */
export function queryValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  if (/^-?\d+(\.\d+)?$/.test(s) || /^[A-Za-z0-9_][\w.\-/@]*$/.test(s) && !/^(AND|OR|NOT|TO)$/.test(s)) return s;
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `q` narrowed by `field:value`, or with it excluded. */
export function withClause(q: string, field: string, value: unknown, exclude: boolean): string {
  const clause = `${exclude ? 'NOT ' : ''}${field}:${queryValue(value)}`;
  const t = q.trim();
  if (!t || t === '*') return clause;
  return /\bOR\b/.test(t) ? `(${t}) AND ${clause}` : `${t} AND ${clause}`;
}
