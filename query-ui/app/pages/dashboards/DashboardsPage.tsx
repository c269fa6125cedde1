// The Dashboards page: the list at /dashboards, one dashboard at /dashboards/<uid>.
//
// A dashboard's state is in the URL: ?range=1h (or from/to), refresh=30s, var-<name>=<value>
// (repeated for several values), panel=<id> to view one panel alone.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, listDashboards, type DashboardSummary } from '../../api';
import { TimePicker } from '../../components/TimePicker';
import { navigate, onLinkClick, useLocation } from '../../router';
import { parseDuration, rangeByKey, readRange, resolveRange, writeRange, type RangeSpec } from '../../time';
import { ALL, loadDashboard, variableOptions, type Dashboard, type Variable } from './model';
import { PanelView } from './Panel';

export function DashboardsPage() {
  const { pathname } = useLocation();
  const uid = decodeURIComponent(pathname.replace(/^\/dashboards\/?/, '').replace(/\/$/, ''));
  return uid ? <DashboardView uid={uid} /> : <DashboardList />;
}

function DashboardList() {
  const [list, setList] = useState<{ dashboards: DashboardSummary[]; errors: { file: string; error: string }[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    listDashboards(abort.signal).then(setList, (e) => !abort.signal.aborted && setError((e as Error).message));
    return () => abort.abort();
  }, []);
  return (
    <div class="dashboards">
      <h1>Dashboards</h1>
      {error && <div class="banner error" role="alert">Cannot list dashboards: {error}</div>}
      {!list && !error && <p class="status">Loading…</p>}
      {list && list.dashboards.length === 0 && (
        <div class="empty">
          <p class="empty-title">No dashboards</p>
          <p>Put Grafana-style dashboard JSON files in the dashboards directory.</p>
        </div>
      )}
      {list && list.dashboards.length > 0 && (
        <ul class="dashboard-list" data-testid="dashboard-list">
          {list.dashboards.map((d) => (
            <li key={d.uid}>
              <a href={`/dashboards/${encodeURIComponent(d.uid)}`} onClick={onLinkClick} data-testid="dashboard-link">
                {d.title}
              </a>
              {d.description && <p class="dashboard-description">{d.description}</p>}
              {d.tags.map((t) => (
                <span class="tag" key={t}>
                  {t}
                </span>
              ))}
              {d.problems?.length ? (
                <ul class="problems">
                  {d.problems.map((p) => (
                    <li key={p}>{p}</li>
                  ))}
                </ul>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {list?.errors.length ? (
        <div class="banner error" role="alert">
          <p>Files that are not dashboards:</p>
          <ul>
            {list.errors.map((e) => (
              <li key={e.file}>
                <code>{e.file}</code>: {e.error}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}

const REFRESH = ['off', '5s', '10s', '30s', '1m', '5m'];

function DashboardView({ uid }: { uid: string }) {
  const { search } = useLocation();
  const params = new URLSearchParams(search);
  const [dash, setDash] = useState<Dashboard | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [options, setOptions] = useState<Record<string, string[]>>({});
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    setDash(null);
    setError(null);
    loadDashboard(uid, abort.signal).then(
      (d) => {
        setDash(d);
        document.title = `${d.title} · Lookout`;
      },
      (e) => !abort.signal.aborted && setError(e instanceof ApiError ? e : new ApiError(String(e), 0)),
    );
    return () => abort.abort();
  }, [uid]);

  const fallback = useMemo(() => {
    const from = dash?.time?.from ?? 'now-1h';
    return rangeByKey(from.replace(/^now-/, '')) ?? rangeByKey('1h')!;
  }, [dash]);
  const range = readRange(params, fallback);
  const refresh = params.get('refresh') ?? dash?.refresh ?? 'off';
  const panelId = params.get('panel');
  const variables = dash?.templating?.list ?? [];

  // Selected values: from the URL, else the variable's `current`, else All / the first option.
  const values: Record<string, string[]> = {};
  for (const v of variables) {
    const fromUrl = params.getAll(`var-${v.name}`);
    const cur = v.current?.value;
    const def = cur === undefined ? [] : Array.isArray(cur) ? cur : [cur];
    let vals = fromUrl.length ? fromUrl : def;
    if (!vals.length) vals = v.includeAll ? [ALL] : options[v.name]?.slice(0, 1) ?? [];
    values[v.name] = vals;
  }

  const win = resolveRange(range);
  const varKey = JSON.stringify(variables.map((v) => v.name));
  useEffect(() => {
    if (!dash) return;
    const abort = new AbortController();
    for (const v of variables) {
      variableOptions(v, win).then(
        (opts) => !abort.signal.aborted && setOptions((o) => ({ ...o, [v.name]: opts })),
        () => !abort.signal.aborted && setOptions((o) => ({ ...o, [v.name]: [] })),
      );
    }
    return () => abort.abort();
  }, [dash, varKey]);

  // Auto-refresh: re-run every panel's queries.
  useEffect(() => {
    const secs = parseDuration(refresh);
    if (!secs) return;
    const t = setInterval(() => setTick((n) => n + 1), secs * 1000);
    return () => clearInterval(t);
  }, [refresh]);

  const set = (change: (p: URLSearchParams) => void, replace = false) => {
    const p = new URLSearchParams(search);
    change(p);
    navigate(`/dashboards/${encodeURIComponent(uid)}?${p}`, { replace });
  };

  if (error)
    return (
      <div class="banner error" role="alert" data-testid="dashboard-error">
        {error.status === 404 ? `No dashboard "${uid}". ` : 'Cannot load the dashboard: '}
        {error.message}{' '}
        <a href="/dashboards" onClick={onLinkClick}>
          All dashboards
        </a>
      </div>
    );
  if (!dash) return <p class="status">Loading dashboard…</p>;

  const panels = (dash.panels ?? []).filter((p) => p.type !== 'row');
  const shown = panelId ? panels.filter((p) => String(p.id) === panelId) : panels;
  const rows = Math.max(1, ...panels.map((p) => p.gridPos.y + p.gridPos.h));

  return (
    <div class="dashboard" data-testid="dashboard">
      <div class="dashboard-bar">
        <h1>
          <a href="/dashboards" onClick={onLinkClick} class="muted">
            Dashboards
          </a>{' '}
          / {dash.title}
        </h1>
        <div class="dashboard-controls">
          <TimePicker value={range} onChange={(spec: RangeSpec) => set((p) => writeRange(p, spec))} />
          <label>
            Refresh{' '}
            <select data-testid="refresh-select" value={refresh} onChange={(e) => set((p) => p.set('refresh', e.currentTarget.value))}>
              {Array.from(new Set([...REFRESH, refresh])).map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={() => setTick((n) => n + 1)} title="Run every query again">
            ↻
          </button>
        </div>
      </div>
      {variables.length > 0 && (
        <div class="variables" data-testid="variables">
          {variables.map((v) => (
            <VariablePicker
              key={v.name}
              v={v}
              options={options[v.name]}
              selected={values[v.name] ?? []}
              onChange={(vals) =>
                set((p) => {
                  p.delete(`var-${v.name}`);
                  for (const x of vals) p.append(`var-${v.name}`, x);
                })
              }
            />
          ))}
        </div>
      )}
      {panelId && (
        <p>
          <a href={`/dashboards/${encodeURIComponent(uid)}?${(() => { const p = new URLSearchParams(search); p.delete('panel'); return p; })()}`} onClick={onLinkClick}>
            ← Back to the whole dashboard
          </a>
        </p>
      )}
      <div class={panelId ? 'grid single' : 'grid'} style={{ gridTemplateRows: panelId ? undefined : `repeat(${rows}, 30px)` }}>
        {shown.map((p) => (
          <PanelView
            key={p.id}
            panel={p}
            single={!!panelId}
            values={values}
            window={win}
            tick={tick}
            onZoom={(start, end) => set((q) => writeRange(q, { kind: 'absolute', start, end }))}
            viewHref={`/dashboards/${encodeURIComponent(uid)}?${(() => { const q = new URLSearchParams(search); q.set('panel', String(p.id)); return q; })()}`}
          />
        ))}
      </div>
    </div>
  );
}

function VariablePicker({ v, options, selected, onChange }: { v: Variable; options?: string[]; selected: string[]; onChange: (vals: string[]) => void }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => box.current && !box.current.contains(e.target as Node) && setOpen(false);
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  const opts = [...(v.includeAll ? [ALL] : []), ...(options ?? [])];
  for (const s of selected) if (!opts.includes(s)) opts.push(s);
  const name = (o: string) => (o === ALL ? 'All' : o);
  const label = v.label ?? v.name;

  if (!v.multi)
    return (
      <label class="variable">
        <span>{label}</span>
        <select data-testid={`var-${v.name}`} value={selected[0]} onChange={(e) => onChange([e.currentTarget.value])}>
          {opts.map((o) => (
            <option key={o} value={o}>
              {name(o)}
            </option>
          ))}
        </select>
      </label>
    );

  const toggle = (o: string) => {
    if (o === ALL) return onChange([ALL]);
    const base = selected.filter((x) => x !== ALL);
    const next = base.includes(o) ? base.filter((x) => x !== o) : [...base, o];
    onChange(next.length ? next : v.includeAll ? [ALL] : [o]);
  };
  return (
    <div class="variable" ref={box} onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
      <span>{label}</span>
      <button type="button" class="variable-button" data-testid={`var-${v.name}`} aria-haspopup="listbox" aria-expanded={open} onClick={() => setOpen(!open)}>
        {selected.map(name).join(' + ') || '—'} <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <ul class="variable-options" role="listbox" aria-multiselectable="true" aria-label={label}>
          {options === undefined && <li class="muted">Loading…</li>}
          {opts.map((o) => (
            <li key={o} role="option" aria-selected={selected.includes(o)}>
              <label data-value={o}>
                <input type="checkbox" checked={selected.includes(o)} onChange={() => toggle(o)} /> {name(o)}
              </label>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
