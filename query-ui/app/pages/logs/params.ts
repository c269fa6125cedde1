// The Logs page's state as it appears in the URL: /logs?q=<query>&range=<key>.
import { defaultRange, rangeByKey, type TimeRange } from '../../time';

export interface LogsParams {
  /** The log query; empty matches everything. */
  q: string;
  range: TimeRange;
}

export function readParams(search: string): LogsParams {
  const p = new URLSearchParams(search);
  return { q: p.get('q') ?? '', range: rangeByKey(p.get('range')) ?? defaultRange };
}

/** The URL for `params`, always naming the range so that a link means the same later. */
export function paramsURL(params: LogsParams): string {
  const p = new URLSearchParams();
  if (params.q) p.set('q', params.q);
  p.set('range', params.range.key);
  return `/logs?${p}`;
}
