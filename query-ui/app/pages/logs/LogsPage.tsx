// The Logs page: a query box and time picker, a histogram of matches, and the newest hits.
//
// The URL is the state (see params.ts): submitting the query or picking a range pushes a
// history entry, and every change of the URL (including back and forward) runs the search.
// Submitting an unchanged query searches again, so the window moves up to now.
import { useEffect, useState } from 'preact/hooks';
import {
  ApiError,
  logsHistogram,
  searchLogs,
  type HistogramResponse,
  type SearchResponse,
  type TimeWindow,
} from '../../api';
import { navigate, useLocation } from '../../router';
import { rangeByKey, timeRanges, windowFor } from '../../time';
import { Histogram } from './Histogram';
import { HitRow } from './HitRow';
import { paramsURL, readParams, type LogsParams } from './params';

/** How many hits one search shows, newest first. */
const LIMIT = 100;

interface Results {
  /** Counts searches, so that a new result list starts with every hit collapsed. */
  seq: number;
  window: TimeWindow;
  search: SearchResponse;
  histogram?: HistogramResponse;
  histogramError?: string;
}

export function LogsPage() {
  const { search } = useLocation();
  const params = readParams(search);
  const [draft, setDraft] = useState(params.q);
  const [runs, setRuns] = useState(0);
  // Busy is derived, not set by the effect, so that the render that shows a new URL already
  // says the results are stale (tests and assistive technology read aria-busy).
  const searchKey = `${params.q}\u0000${params.range.key}\u0000${runs}`;
  const [doneKey, setDoneKey] = useState<string | null>(null);
  const loading = doneKey !== searchKey;
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  // Back/forward or a pasted link changes the query: show it in the box.
  useEffect(() => setDraft(params.q), [params.q]);

  useEffect(() => {
    const abort = new AbortController();
    const span = windowFor(params.range);
    Promise.allSettled([
      searchLogs(params.q, span, LIMIT, abort.signal),
      logsHistogram(params.q, span, params.range.step, abort.signal),
    ]).then(([hits, histogram]) => {
      if (abort.signal.aborted) return;
      setDoneKey(searchKey);
      if (hits.status === 'rejected') {
        setResults(null);
        setError(asApiError(hits.reason));
        return;
      }
      setError(null);
      setResults((prev) => ({
        seq: (prev?.seq ?? 0) + 1,
        window: span,
        search: hits.value,
        histogram: histogram.status === 'fulfilled' ? histogram.value : undefined,
        histogramError:
          histogram.status === 'rejected' ? asApiError(histogram.reason).message : undefined,
      }));
    });
    return () => abort.abort();
  }, [searchKey]);

  const go = (next: LogsParams) => {
    const url = paramsURL(next);
    if (url === window.location.pathname + window.location.search) setRuns((n) => n + 1);
    else navigate(url);
  };

  const onSubmit = (e: Event) => {
    e.preventDefault();
    go({ ...params, q: draft.trim() });
  };

  return (
    <div class="logs">
      <form class="query-bar" role="search" onSubmit={onSubmit}>
        <label class="visually-hidden" for="logs-query">
          Log query
        </label>
        <input
          id="logs-query"
          class={error?.isBadRequest ? 'query-input invalid' : 'query-input'}
          data-testid="query-input"
          type="search"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          placeholder='service:checkout AND level:error, "connection reset", latency_ms:>500'
          autocomplete="off"
          spellcheck={false}
          aria-invalid={error?.isBadRequest ? true : undefined}
          aria-describedby={error?.isBadRequest ? 'query-error' : undefined}
        />
        <label class="visually-hidden" for="logs-range">
          Time range
        </label>
        <select
          id="logs-range"
          class="range-select"
          data-testid="range-select"
          value={params.range.key}
          onChange={(e) => {
            const range = rangeByKey(e.currentTarget.value);
            if (range) go({ q: draft.trim(), range });
          }}
        >
          {timeRanges.map((r) => (
            <option key={r.key} value={r.key}>
              {r.label}
            </option>
          ))}
        </select>
        <button type="submit" class="search-button" data-testid="search-button">
          Search
        </button>
      </form>

      {error?.isBadRequest && <QueryError error={error} query={params.q} />}
      {error && !error.isBadRequest && (
        <div class="banner error" role="alert" data-testid="search-error">
          Search failed: {error.message}
        </div>
      )}

      <section class="results" data-testid="results" aria-busy={loading ? 'true' : 'false'} aria-live="polite">
        {results && <Summary results={results} loading={loading} />}
        {results?.histogram && <Histogram data={results.histogram} window={results.window} />}
        {results?.histogramError && (
          <p class="histogram-error">Histogram unavailable: {results.histogramError}</p>
        )}
        {!results && loading && <p class="status">Searching…</p>}
        {results &&
          (results.search.hits.length > 0 ? (
            <ol class="hits" data-testid="hits" key={results.seq}>
              {results.search.hits.map((hit) => (
                <HitRow key={hit.id} hit={hit} />
              ))}
            </ol>
          ) : (
            <div class="empty" data-testid="no-hits">
              <p class="empty-title">No logs match</p>
              <p>Try a longer time range or a broader query.</p>
            </div>
          ))}
      </section>
    </div>
  );
}

function Summary({ results, loading }: { results: Results; loading: boolean }) {
  const { total, took_ms, hits } = results.search;
  return (
    <div class="summary" data-testid="summary">
      <span>
        <strong data-testid="total">{total.toLocaleString()}</strong>{' '}
        {total === 1 ? 'log' : 'logs'}
      </span>
      {hits.length < total && <span>showing the newest {hits.length.toLocaleString()}</span>}
      <span class="muted">took {took_ms} ms</span>
      {loading && <span class="muted">Searching…</span>}
    </div>
  );
}

/** The server's message for a bad query, with a caret under the position it blamed. */
function QueryError({ error, query }: { error: ApiError; query: string }) {
  const pos = error.position;
  const showCaret = pos !== undefined && pos >= 0 && pos <= query.length && query.length > 0;
  return (
    <div class="banner query-error" role="alert" id="query-error">
      <p data-testid="query-error">{error.message}</p>
      {showCaret && (
        <pre class="caret" aria-hidden="true">
          {query}
          {'\n'}
          {' '.repeat(pos)}^
        </pre>
      )}
    </div>
  );
}

function asApiError(reason: unknown): ApiError {
  return reason instanceof ApiError ? reason : new ApiError(String(reason), 0);
}
