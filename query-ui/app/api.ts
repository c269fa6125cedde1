// The aggregator's HTTP API, as the UI uses it. Same origin, JSON in and out.
//
// Every call resolves to the decoded body or rejects with an `ApiError`, whose `status` tells
// a bad request (400: show the server's message where the user typed) from a failure
// (anything else: show that the search failed and why).

/** A failed API call. `status` is 0 when the request never got an HTTP answer. */
export class ApiError extends Error {
  readonly status: number;
  /** Character offset into the query that the server blamed, when it said. */
  readonly position: number | undefined;

  constructor(message: string, status: number, position?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.position = position;
  }

  /** Whether the request itself was wrong (the query or a parameter), not the server. */
  get isBadRequest(): boolean {
    return this.status === 400;
  }
}

type Params = Record<string, string | number | undefined>;

/** GETs `path` with `params` (undefined ones left out) and decodes the JSON body. */
export async function getJSON<T>(path: string, params: Params, signal?: AbortSignal): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
  let res: Response;
  try {
    res = await fetch(`${path}?${query}`, { signal, headers: { Accept: 'application/json' } });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(`cannot reach the server: ${(err as Error).message}`, 0);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const obj = (body ?? {}) as { error?: unknown; position?: unknown };
    const message =
      typeof obj.error === 'string' && obj.error
        ? obj.error
        : `HTTP ${res.status} ${res.statusText}${text && !body ? `: ${text.slice(0, 200)}` : ''}`;
    const position = typeof obj.position === 'number' ? obj.position : undefined;
    throw new ApiError(message, res.status, position);
  }
  if (body === undefined) throw new ApiError('the server sent a response that is not JSON', res.status);
  return body as T;
}

/** One log event as the search API returns it. */
export interface LogHit {
  id: string;
  /** RFC 3339, UTC, up to nanosecond precision. */
  timestamp: string;
  level?: string;
  message?: string;
  host?: string;
  service?: string;
  /** Where the line came from: a file path or a receiver. */
  source?: string;
  fields?: Record<string, unknown>;
}

export interface SearchResponse {
  hits: LogHit[];
  total: number;
  took_ms: number;
}

export interface HistogramResponse {
  buckets: { start: number; count: number }[];
  step: number;
  total: number;
}

/** A time window in Unix seconds, [start, end). */
export interface TimeWindow {
  start: number;
  end: number;
}

export function searchLogs(
  q: string,
  window: TimeWindow,
  limit: number,
  signal?: AbortSignal,
): Promise<SearchResponse> {
  return getJSON<SearchResponse>(
    '/api/v1/logs/search',
    { q, start: window.start, end: window.end, limit, order: 'desc' },
    signal,
  );
}

export function logsHistogram(
  q: string,
  window: TimeWindow,
  step: number,
  signal?: AbortSignal,
): Promise<HistogramResponse> {
  return getJSON<HistogramResponse>(
    '/api/v1/logs/histogram',
    { q, start: window.start, end: window.end, step },
    signal,
  );
}
