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

// ---- sign-in ------------------------------------------------------------------------------------

/** CSRF token of the signed-in session: sent on every request that changes something. */
let csrfToken: string | undefined;

/** Remembers the session's CSRF token (from sign-in or /api/v1/auth/me). */
export function setCsrfToken(t: string | undefined | null): void {
  csrfToken = t ?? undefined;
}

/** Fired on window when an API call answers 401: the shell shows the sign-in form. */
export const UNAUTHORIZED_EVENT = 'lookout:unauthorized';

function noteStatus(status: number): void {
  if (status === 401) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
}

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
  noteStatus(res.status);
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

/** Sends `body` as JSON with `method` and decodes the JSON answer (an empty body is `{}`). */
export async function sendJSON<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(csrfToken ? { 'X-CSRF-Token': csrfToken } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(`cannot reach the server: ${(err as Error).message}`, 0);
  }
  if (!path.startsWith('/api/v1/auth/login')) noteStatus(res.status);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const obj = (parsed ?? {}) as { error?: unknown; message?: unknown };
    const msg =
      typeof obj.error === 'string'
        ? obj.error
        : typeof parsed === 'string'
          ? parsed
          : typeof obj.message === 'string'
            ? obj.message
            : `HTTP ${res.status} ${res.statusText}${text && parsed === undefined ? `: ${text.slice(0, 200)}` : ''}`;
    throw new ApiError(msg, res.status);
  }
  return (parsed ?? {}) as T;
}

// ---- logs: fields and context ----------------------------------------------------------------

export interface FieldSummary {
  name: string;
  count: number;
  exact: boolean;
  values: { value: string; count: number }[];
}

export interface FieldsResponse {
  total: number;
  sampled: number;
  fields: FieldSummary[];
}

export function logFields(q: string, window: TimeWindow, signal?: AbortSignal): Promise<FieldsResponse> {
  return getJSON<FieldsResponse>('/api/v1/logs/fields', { q, start: window.start, end: window.end }, signal);
}

export interface ContextResponse {
  before: LogHit[];
  line: LogHit;
  after: LogHit[];
}

export function logContext(id: string, n: number, signal?: AbortSignal): Promise<ContextResponse> {
  return getJSON<ContextResponse>('/api/v1/logs/context', { id, before: n, after: n }, signal);
}

export interface PagedSearch extends SearchResponse {
  next_cursor?: string | null;
}

export function searchPage(
  q: string,
  window: TimeWindow,
  limit: number,
  cursor: string | undefined,
  signal?: AbortSignal,
): Promise<PagedSearch> {
  return getJSON<PagedSearch>(
    '/api/v1/logs/search',
    { q, start: window.start, end: window.end, limit, order: 'desc', cursor },
    signal,
  );
}

// ---- Prometheus API ---------------------------------------------------------------------------

/** One series of a range query: labels and [unix seconds, "value"] pairs. */
export interface PromMatrixSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface PromVectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export type PromData =
  | { resultType: 'matrix'; result: PromMatrixSeries[] }
  | { resultType: 'vector'; result: PromVectorSample[] }
  | { resultType: 'scalar'; result: [number, string] }
  | { resultType: 'string'; result: [number, string] };

/**
 * GETs a Prometheus API path and unwraps its envelope: `data` on success, an `ApiError` with
 * the server's `error` text (and `errorType`) otherwise.
 */
export async function promGet<T>(path: string, params: Record<string, string | number | string[] | undefined>, signal?: AbortSignal): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) query.append(k, x);
    else query.set(k, String(v));
  }
  let res: Response;
  try {
    res = await fetch(`${path}?${query}`, { signal, headers: { Accept: 'application/json' } });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(`cannot reach the server: ${(err as Error).message}`, 0);
  }
  noteStatus(res.status);
  const text = await res.text();
  let body: { status?: string; data?: T; error?: string; errorType?: string } | undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok || body?.status !== 'success') {
    const msg = body?.error
      ? `${body.errorType ? `${body.errorType}: ` : ''}${body.error}`
      : `HTTP ${res.status} ${res.statusText}${text && !body ? `: ${text.slice(0, 200)}` : ''}`;
    throw new ApiError(msg, res.status === 422 ? 400 : res.status);
  }
  return body.data as T;
}

export function queryRange(expr: string, start: number, end: number, step: number, signal?: AbortSignal): Promise<PromData> {
  return promGet<PromData>('/api/v1/query_range', { query: expr, start, end, step }, signal);
}

export function queryInstant(expr: string, time: number, signal?: AbortSignal): Promise<PromData> {
  return promGet<PromData>('/api/v1/query', { query: expr, time }, signal);
}

export function labelValues(name: string, match?: string, signal?: AbortSignal): Promise<string[]> {
  return promGet<string[]>(
    `/api/v1/label/${encodeURIComponent(name)}/values`,
    { 'match[]': match ? [match] : undefined },
    signal,
  );
}

export function labelNames(match?: string, signal?: AbortSignal): Promise<string[]> {
  return promGet<string[]>('/api/v1/labels', { 'match[]': match ? [match] : undefined }, signal);
}

// ---- dashboards, agents ------------------------------------------------------------------------

export interface DashboardSummary {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  file: string;
  problems?: string[];
}

export function listDashboards(signal?: AbortSignal): Promise<{ dashboards: DashboardSummary[]; errors: { file: string; error: string }[] }> {
  return getJSON('/api/v1/dashboards', {}, signal);
}

export function getDashboard(uid: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  return getJSON(`/api/v1/dashboards/${encodeURIComponent(uid)}`, {}, signal);
}

export interface AgentInfo {
  id: string;
  host: string;
  version: string;
  first_seen: number;
  last_contact: number;
  events: number;
  batches: number;
  duplicate_batches: number;
  rejected_requests: number;
  rejected_events: number;
  lag_seconds: number;
  streams: Record<string, number>;
  events_per_second: number;
  seconds_since_contact: number;
  stale: boolean;
  // From the agent's `Lookout-Agent-Stats` header (zero/null for agents that never sent it).
  reports_stats: boolean;
  dropped_events: number;
  dropped_changed_at: number;
  dropping: boolean;
  buffer_events: number;
  buffer_max_events: number;
  buffer_bytes: number;
  buffer_max_bytes: number;
  buffer_use: number | null;
}

export function listAgents(
  signal?: AbortSignal,
): Promise<{ agents: AgentInfo[]; stale_after_seconds: number; dropping_window_seconds: number }> {
  return getJSON('/api/v1/agents', {}, signal);
}

// ---- who am I -----------------------------------------------------------------------------------

export interface Me {
  auth_enabled: boolean;
  actor: string;
  user: string | null;
  role: 'ingest' | 'viewer' | 'editor' | 'admin';
  csrf_token: string | null;
}

/** The caller, or an ApiError with status 401 when nobody is signed in. */
export async function fetchMe(): Promise<Me> {
  const me = await getJSON<Me>('/api/v1/auth/me', {});
  setCsrfToken(me.csrf_token);
  return me;
}

/** Signs in; the session lives in an HttpOnly cookie, the CSRF token in memory. */
export async function signIn(username: string, password: string): Promise<Me> {
  const r = await sendJSON<{ user: string; role: Me['role']; csrf_token: string }>('POST', '/api/v1/auth/login', { username, password });
  setCsrfToken(r.csrf_token);
  return { auth_enabled: true, actor: `user:${r.user}`, user: r.user, role: r.role, csrf_token: r.csrf_token };
}

export async function signOut(): Promise<void> {
  await sendJSON<unknown>('POST', '/api/v1/auth/logout');
  setCsrfToken(undefined);
}
