// The Logs page: a query box (field completion, syntax help) and time picker, a histogram of
// matches (drag to zoom), the field sidebar, and the newest hits in a virtualised list with
// "load more" up to 10,000, or the live tail.
//
// The URL is the state (see params.ts): submitting the query, picking a range, zooming or
// clicking a field value pushes a history entry, and every change of the URL (including back
// and forward) runs the search. Submitting an unchanged query searches again, so a relative
// window moves up to now.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  ApiError,
  logFields,
  logsHistogram,
  searchPage,
  type FieldsResponse,
  type HistogramResponse,
  type LogHit,
  type PagedSearch,
  type TimeWindow,
} from '../../api';
import { CompletingInput, type Completion } from '../../components/CompletingInput';
import { TimePicker } from '../../components/TimePicker';
import { navigate, useLocation } from '../../router';
import { resolveRange, writeRange } from '../../time';
import { rank } from '../metrics/promql';
import { FieldSidebar } from './FieldSidebar';
import { Histogram } from './Histogram';
import { HitList } from './HitList';
import { paramsURL, queryValue, readParams, withClause, type LogsParams } from './params';
import { Tail } from './Tail';

/** Hits per page; "Load more" fetches the next page up to MAX_HITS. */
const PAGE = 500;
const MAX_HITS = 10_000;
const KEYWORDS = ['level', 'service', 'host', 'source', 'message'];

interface Results {
  seq: number;
  window: TimeWindow;
  search: PagedSearch;
  hits: LogHit[];
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
  const rangeKey = params.range.kind === 'relative' ? params.range.range.key : `${params.range.start}-${params.range.end}`;
  const searchKey = `${params.q}\u0000${rangeKey}\u0000${runs}`;
  const [doneKey, setDoneKey] = useState<string | null>(null);
  const loading = doneKey !== searchKey;
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [fields, setFields] = useState<{ key: string; data?: FieldsResponse; error?: string } | null>(null);
  const [more, setMore] = useState(false);
  const [help, setHelp] = useState(false);
  const [toast, setToast] = useState<string | null>(null);
  const fieldsRef = useRef<FieldsResponse | undefined>(undefined);
  fieldsRef.current = fields?.data;

  // Back/forward or a pasted link changes the query: show it in the box.
  useEffect(() => setDraft(params.q), [params.q]);

  useEffect(() => {
    const abort = new AbortController();
    const span = resolveRange(params.range);
    Promise.allSettled([
      searchPage(params.q, span, PAGE, undefined, abort.signal),
      logsHistogram(params.q, span, span.step, abort.signal),
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
        hits: hits.value.hits,
        histogram: histogram.status === 'fulfilled' ? histogram.value : undefined,
        histogramError: histogram.status === 'rejected' ? asApiError(histogram.reason).message : undefined,
      }));
    });
    logFields(params.q, span, abort.signal).then(
      (data) => !abort.signal.aborted && setFields({ key: searchKey, data }),
      (e) => !abort.signal.aborted && setFields({ key: searchKey, error: asApiError(e).message }),
    );
    return () => abort.abort();
  }, [searchKey]);

  const go = (next: LogsParams) => {
    const url = paramsURL(next);
    if (url === window.location.pathname + window.location.search) setRuns((n) => n + 1);
    else navigate(url);
  };

  const loadMore = async () => {
    if (!results?.search.next_cursor) return;
    setMore(true);
    try {
      const page = await searchPage(params.q, results.window, Math.min(PAGE * 4, MAX_HITS - results.hits.length), results.search.next_cursor);
      setResults((r) => (r ? { ...r, hits: [...r.hits, ...page.hits], search: { ...r.search, next_cursor: page.next_cursor } } : r));
    } catch (e) {
      setToast(`Could not load more: ${(e as Error).message}`);
    } finally {
      setMore(false);
    }
  };

  const filter = (field: string, value: unknown, exclude: boolean) => {
    go({ ...params, q: withClause(params.q, field, value, exclude) });
  };

  const copyLink = async () => {
    const w = results?.window ?? resolveRange(params.range);
    const p = new URLSearchParams();
    if (params.q) p.set('q', params.q);
    writeRange(p, { kind: 'absolute', start: w.start, end: w.end });
    const link = `${location.origin}/logs?${p}`;
    try {
      await navigator.clipboard.writeText(link);
      setToast('Link to this search and time window copied');
    } catch {
      window.prompt('Copy this link', link);
    }
  };
  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), 3000);
    return () => clearTimeout(t);
  }, [toast]);

  const suggest = useMemo(() => (text: string, cursor: number) => suggestFields(text, cursor, fieldsRef.current), []);

  return (
    <div class="logs">
      <form
        class="query-bar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ ...params, q: draft.trim() });
        }}
      >
        <CompletingInput
          id="logs-query"
          label="Log query"
          testid="query-input"
          value={draft}
          onInput={setDraft}
          onSubmit={() => go({ ...params, q: draft.trim() })}
          suggest={suggest}
          placeholder='service:checkout AND level:error, "connection reset", latency_ms:>500'
          invalid={!!error?.isBadRequest}
          describedBy={error?.isBadRequest ? 'query-error' : undefined}
        />
        <button type="button" class="icon" aria-expanded={help} aria-controls="query-help" title="Query syntax" onClick={() => setHelp(!help)}>
          ?
        </button>
        <TimePicker value={params.range} onChange={(range) => go({ ...params, q: draft.trim(), range })} />
        <button type="submit" class="search-button" data-testid="search-button">
          Search
        </button>
        <button
          type="button"
          class={params.live ? 'live on' : 'live'}
          data-testid="live-button"
          aria-pressed={params.live}
          onClick={() => go({ ...params, q: draft.trim(), live: !params.live })}
          title="Stream new matching lines as they arrive"
        >
          {params.live ? '■ Stop' : '▶ Live'}
        </button>
        <button type="button" data-testid="copy-link" onClick={copyLink} title="Copy a link to this search with its exact time window">
          Copy link
        </button>
      </form>
      {help && <SyntaxHelp />}
      {toast && (
        <div class="toast" role="status">
          {toast}
        </div>
      )}

      {error?.isBadRequest && <QueryError error={error} query={params.q} />}
      {error && !error.isBadRequest && (
        <div class="banner error" role="alert" data-testid="search-error">
          Search failed: {error.message}
        </div>
      )}

      <div class="logs-body">
        <FieldSidebar fields={fields?.data ?? null} error={fields?.error} onFilter={filter} />
        <section class="results" data-testid="results" aria-busy={loading ? 'true' : 'false'} aria-live="polite">
          {params.live ? (
            <Tail q={params.q} onFilter={filter} />
          ) : (
            <>
              <div class="summary-slot">{results ? <Summary results={results} loading={loading} /> : loading && <p class="status">Searching…</p>}</div>
              <div class="histogram-slot">
                {results?.histogram && (
                  <Histogram
                    data={results.histogram}
                    window={results.window}
                    onZoom={(start, end) => go({ ...params, q: draft.trim(), range: { kind: 'absolute', start, end } })}
                  />
                )}
                {results?.histogramError && <p class="histogram-error">Histogram unavailable: {results.histogramError}</p>}
              </div>
              {results &&
                (results.hits.length > 0 ? (
                  <>
                    <HitList key={results.seq} hits={results.hits} onFilter={filter} />
                    {results.search.next_cursor && results.hits.length < MAX_HITS && (
                      <button type="button" class="load-more" data-testid="load-more" disabled={more} onClick={loadMore}>
                        {more ? 'Loading…' : `Load more (showing ${results.hits.length.toLocaleString()} of ${results.search.total.toLocaleString()})`}
                      </button>
                    )}
                  </>
                ) : (
                  <div class="empty" data-testid="no-hits">
                    <p class="empty-title">No logs match</p>
                    <p>Try a longer time range or a broader query.</p>
                  </div>
                ))}
            </>
          )}
        </section>
      </div>
    </div>
  );
}

/** Field names (and, after `name:`, that field's top values) from the latest field summary. */
function suggestFields(text: string, cursor: number, fields: FieldsResponse | undefined): Completion | null {
  const before = text.slice(0, cursor);
  if ((before.match(/"/g)?.length ?? 0) % 2 === 1) return null;
  const valueCtx = /([\w.]+):([\w.\-]*)$/.exec(before);
  if (valueCtx) {
    const [, name, partial] = valueCtx;
    const f = fields?.fields.find((x) => x.name === name);
    if (!f) return null;
    const items = rank(f.values.map((v) => v.value), partial!).map((v) => ({ label: v, insert: queryValue(v), detail: String(f.values.find((x) => x.value === v)?.count ?? '') }));
    return { from: cursor - partial!.length, to: cursor, items };
  }
  const word = /(?:^|[\s(])-?([\w.]+)$/.exec(before)?.[1];
  if (!word || /^(AND|OR|NOT)$/i.test(word)) return null;
  const names = Array.from(new Set([...KEYWORDS, ...(fields?.fields.map((f) => f.name) ?? [])]));
  const items = rank(names, word).map((n) => ({ label: n, insert: `${n}:`, detail: 'field' }));
  return items.length ? { from: cursor - word.length, to: cursor, items } : null;
}

function SyntaxHelp() {
  const rows: [string, string][] = [
    ['timeout', 'a word in the message or any text field'],
    ['"connection reset"', 'a phrase'],
    ['service:checkout', 'a field equals a value (nested: http.status:503)'],
    ['latency_ms:>500', 'numeric comparison (>, >=, <, <=)'],
    ['status:[500 TO 599]', 'a range, inclusive ([ ]) or exclusive ({ })'],
    ['trace_id:*', 'the field exists'],
    ['level:(error OR warn)', 'any of several values'],
    ['a AND b, a OR b, NOT a, -a', 'boolean operators; parentheses group'],
  ];
  return (
    <div class="syntax-help" id="query-help" data-testid="syntax-help">
      <table>
        <tbody>
          {rows.map(([q, what]) => (
            <tr key={q}>
              <td>
                <code>{q}</code>
              </td>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">Tab completes field names and values; Ctrl+Space shows suggestions.</p>
    </div>
  );
}

function Summary({ results, loading }: { results: Results; loading: boolean }) {
  const { total, took_ms } = results.search;
  const shown = results.hits.length;
  return (
    <div class="summary" data-testid="summary">
      <span>
        <strong data-testid="total">{total.toLocaleString()}</strong> {total === 1 ? 'log' : 'logs'}
      </span>
      {shown < total && <span>showing the newest {shown.toLocaleString()}</span>}
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
