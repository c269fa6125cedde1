// One dashboard panel: fetches its data for the current variables and window, then draws it as
// a time-series chart, a big stat, a table or a list of log lines. Errors stay in the panel.
import { useEffect, useState } from 'preact/hooks';
import { Chart } from '../../components/Chart';
import { formatValue } from '../../format';
import { onLinkClick } from '../../router';
import { formatLocal } from '../../time';
import { levelClass } from '../logs/HitRow';
import { loadPanel, type Panel, type PanelData } from './model';

interface Props {
  panel: Panel;
  values: Record<string, string[]>;
  window: { start: number; end: number; step: number };
  tick: number;
  single: boolean;
  viewHref: string;
  onZoom: (start: number, end: number) => void;
}

export function PanelView({ panel, values, window, tick, single, viewHref, onZoom }: Props) {
  const [data, setData] = useState<PanelData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const key = JSON.stringify([values, window.start, window.end, tick]);

  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    loadPanel(panel, { values, window, signal: abort.signal }).then(
      (d) => {
        if (abort.signal.aborted) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (abort.signal.aborted) return;
        setError((e as Error).message);
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [key]);

  const g = panel.gridPos;
  const style = single ? undefined : { gridColumn: `${g.x + 1} / span ${g.w}`, gridRow: `${g.y + 1} / span ${g.h}` };
  // Grid rows are 30px with 8px gaps; minus the header and padding.
  const height = single ? 480 : Math.max(60, g.h * 30 + (g.h - 1) * 8 - 40);
  const unit = panel.fieldConfig?.defaults?.unit;

  return (
    <section
      class={`panel panel-${panel.type}`}
      style={style}
      data-testid="panel"
      data-panel-type={panel.type}
      data-panel-id={panel.id}
      aria-busy={loading ? 'true' : 'false'}
      aria-label={panel.title}
    >
      <header class="panel-header">
        <h2 title={panel.description}>{panel.title}</h2>
        {!single && (
          <a class="panel-view" href={viewHref} onClick={onLinkClick} title="View this panel alone">
            ⤢
          </a>
        )}
      </header>
      <div class="panel-body">
        {error && (
          <p class="panel-error" role="alert" data-testid="panel-error">
            {error}
          </p>
        )}
        {!error && !data && <p class="status">Loading…</p>}
        {!error && data && <Body data={data} panel={panel} height={height} unit={unit} window={window} onZoom={onZoom} />}
      </div>
    </section>
  );
}

function Body({ data, panel, height, unit, window, onZoom }: { data: PanelData; panel: Panel; height: number; unit?: string; window: { start: number; end: number }; onZoom: (a: number, b: number) => void }) {
  if (data.kind === 'series') {
    if (!data.series.length) return <p class="panel-empty">No data</p>;
    return <Chart series={data.series} range={window} height={height - 12 - 22 * Math.ceil(data.series.length / 4)} unit={unit} onZoom={onZoom} />;
  }
  if (data.kind === 'stat') {
    const steps = panel.fieldConfig?.defaults?.thresholds?.steps ?? [];
    let color: string | undefined;
    for (const s of steps) if (data.value !== null && (s.value === null || data.value >= s.value)) color = s.color;
    return (
      <p class="stat" data-testid="stat-value" style={{ color: color && color !== 'green' ? statColor(color) : undefined }}>
        {data.value === null ? '—' : formatValue(data.value, unit)}
      </p>
    );
  }
  if (data.kind === 'table') {
    if (!data.rows.length) return <p class="panel-empty">No data</p>;
    return (
      <div class="panel-scroll">
        <table class="data-table compact">
          <thead>
            <tr>
              {data.columns.map((c) => (
                <th key={c} class={c === 'Value' || c === 'count' ? 'num' : undefined}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.rows.map((r, i) => (
              <tr key={i}>
                {r.map((cell, j) => (
                  <td key={j} class={typeof cell === 'number' ? 'num mono' : 'mono'}>
                    {typeof cell === 'number' ? formatValue(cell, unit) : cell}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  if (!data.hits.length) return <p class="panel-empty">No logs</p>;
  return (
    <div class="panel-scroll">
      <ol class="panel-logs">
        {data.hits.map((h) => (
          <li key={h.id}>
            <time>{formatLocal(h.timestamp).slice(11, 19)}</time>{' '}
            <span class={`hit-level ${levelClass(h.level)}`}>{h.level || '—'}</span> <span class="muted">{h.service}</span> {h.message}
          </li>
        ))}
      </ol>
    </div>
  );
}

function statColor(c: string): string {
  return ({ red: '#c62828', orange: '#d9730d', yellow: '#a07c00', blue: '#2f6fde' } as Record<string, string>)[c] ?? c;
}
