// The Metrics page: a PromQL editor with completion, a graph (uPlot) or a table, and range and
// step controls. State in the URL: /graph?q=<expr>&range=1h (or from/to)&step=30&tab=table.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, queryInstant, queryRange, type PromData } from '../../api';
import { Chart, type Series } from '../../components/Chart';
import { CompletingInput } from '../../components/CompletingInput';
import { TimePicker } from '../../components/TimePicker';
import { navigate, useLocation } from '../../router';
import { formatMs, niceStep, parseDuration, readRange, resolveRange, writeRange, type RangeSpec } from '../../time';
import { PromCompleter, seriesName } from './promql';

interface Params {
  q: string;
  range: RangeSpec;
  step: string;
  tab: 'graph' | 'table';
}

function read(search: string): Params {
  const p = new URLSearchParams(search);
  return { q: p.get('q') ?? '', range: readRange(p), step: p.get('step') ?? '', tab: p.get('tab') === 'table' ? 'table' : 'graph' };
}

function url(params: Params): string {
  const p = new URLSearchParams();
  if (params.q) p.set('q', params.q);
  writeRange(p, params.range);
  if (params.step) p.set('step', params.step);
  if (params.tab === 'table') p.set('tab', 'table');
  return `/graph?${p}`;
}

/** Seconds of a step as typed (`30`, `30s`, `1m`), or undefined. */
function stepSeconds(step: string): number | undefined {
  if (!step) return undefined;
  const n = /^\d+(\.\d+)?$/.test(step) ? Number(step) : parseDuration(step);
  return n && n > 0 ? n : undefined;
}

type Result = { kind: 'graph'; series: Series[]; window: { start: number; end: number }; step: number } | { kind: 'table'; data: PromData; time: number };

export function MetricsPage() {
  const { search } = useLocation();
  const params = read(search);
  const [draft, setDraft] = useState(params.q);
  const [runs, setRuns] = useState(0);
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const completer = useMemo(() => new PromCompleter(), []);

  useEffect(() => setDraft(params.q), [params.q]);

  const key = `${search}\u0000${runs}`;
  useEffect(() => {
    if (!params.q) {
      setResult(null);
      setError(null);
      return;
    }
    const abort = new AbortController();
    const win = resolveRange(params.range);
    setLoading(true);
    const step = stepSeconds(params.step) ?? Math.max(1, niceStep(win.end - win.start, 250));
    const run: Promise<Result> =
      params.tab === 'graph'
        ? queryRange(params.q, win.start, win.end, step, abort.signal).then((data) => ({
            kind: 'graph' as const,
            window: win,
            step,
            series: toSeries(data),
          }))
        : queryInstant(params.q, win.end, abort.signal).then((data) => ({ kind: 'table' as const, data, time: win.end }));
    run.then(
      (r) => {
        if (abort.signal.aborted) return;
        setResult(r);
        setError(null);
        setLoading(false);
      },
      (err) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError ? err : new ApiError(String(err), 0));
        setResult(null);
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [key]);

  const go = (next: Params) => {
    const u = url(next);
    if (u === location.pathname + location.search) setRuns((n) => n + 1);
    else navigate(u);
  };

  return (
    <div class="metrics-page">
      <form
        class="query-bar"
        onSubmit={(e) => {
          e.preventDefault();
          go({ ...params, q: draft.trim() });
        }}
      >
        <CompletingInput
          id="promql"
          label="PromQL expression"
          testid="promql-input"
          multiline
          value={draft}
          onInput={setDraft}
          onSubmit={() => go({ ...params, q: draft.trim() })}
          suggest={(t, c) => completer.suggest(t, c)}
          placeholder='PromQL, e.g. sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'
          invalid={!!error?.isBadRequest}
          describedBy={error ? 'promql-error' : undefined}
        />
        <TimePicker value={params.range} onChange={(range) => go({ ...params, q: draft.trim(), range })} />
        <label class="step">
          Step
          <input
            data-testid="step-input"
            value={params.step}
            placeholder="auto"
            size={5}
            onChange={(e) => go({ ...params, step: e.currentTarget.value.trim() })}
          />
        </label>
        <button type="submit" class="search-button" data-testid="run-button">
          Run
        </button>
      </form>
      <div class="tabs" role="tablist">
        {(['graph', 'table'] as const).map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            aria-selected={params.tab === t}
            data-testid={`tab-${t}`}
            onClick={() => go({ ...params, q: draft.trim(), tab: t })}
          >
            {t === 'graph' ? 'Graph' : 'Table'}
          </button>
        ))}
        {loading && <span class="muted">Running…</span>}
        {result?.kind === 'graph' && (
          <span class="muted">
            {result.series.length} series · step {result.step}s
          </span>
        )}
      </div>
      {error && (
        <div class={error.isBadRequest ? 'banner query-error' : 'banner error'} role="alert" id="promql-error" data-testid="promql-error">
          {error.message}
        </div>
      )}
      <section class="metrics-result" aria-busy={loading ? 'true' : 'false'} data-testid="metrics-result">
        {!params.q && (
          <div class="empty">
            <p class="empty-title">Enter a PromQL expression</p>
            <p>Start typing a metric name for completion; Enter runs the query, Shift+Enter adds a line.</p>
          </div>
        )}
        {result?.kind === 'graph' &&
          (result.series.length ? (
            <Chart
              series={result.series}
              range={result.window}
              height={360}
              live
              onZoom={(start, end) => go({ ...params, range: { kind: 'absolute', start, end } })}
            />
          ) : (
            <div class="empty" data-testid="no-data">
              <p class="empty-title">No data</p>
              <p>The query returned no series in this range.</p>
            </div>
          ))}
        {result?.kind === 'table' && <ResultTable data={result.data} time={result.time} />}
      </section>
    </div>
  );
}

export function toSeries(data: PromData): Series[] {
  if (data.resultType === 'matrix')
    return data.result.map((s) => ({ label: seriesName(s.metric), xs: s.values.map((v) => v[0]), ys: s.values.map((v) => Number(v[1])) }));
  if (data.resultType === 'vector')
    return data.result.map((s) => ({ label: seriesName(s.metric), xs: [s.value[0]], ys: [Number(s.value[1])] }));
  if (data.resultType === 'scalar') return [{ label: 'scalar', xs: [data.result[0]], ys: [Number(data.result[1])] }];
  return [];
}

function ResultTable({ data, time }: { data: PromData; time: number }) {
  const rows: { name: string; value: string }[] =
    data.resultType === 'vector'
      ? data.result.map((s) => ({ name: seriesName(s.metric), value: s.value[1] }))
      : data.resultType === 'matrix'
        ? data.result.map((s) => ({ name: seriesName(s.metric), value: s.values.map((v) => v[1]).join('\n') }))
        : [{ name: data.resultType, value: data.result[1] }];
  if (!rows.length)
    return (
      <div class="empty" data-testid="no-data">
        <p class="empty-title">No data</p>
        <p>The query returned no series at {formatMs(time * 1000, { millis: false })}.</p>
      </div>
    );
  return (
    <table class="data-table" data-testid="result-table">
      <caption class="muted">at {formatMs(time * 1000, { millis: false })}</caption>
      <thead>
        <tr>
          <th>Series</th>
          <th class="num">Value</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <td class="mono">{r.name}</td>
            <td class="num mono">{r.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
