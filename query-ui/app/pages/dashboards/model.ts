// The dashboard JSON model the UI reads (a subset of Grafana's), variables and their
// interpolation into PromQL and log queries, and the data each panel needs.
import { getJSON, labelValues, logFields, logsHistogram, queryInstant, queryRange, searchLogs, type LogHit } from '../../api';
import { niceStep } from '../../time';
import { legend } from '../metrics/promql';
import type { Series } from '../../components/Chart';

export interface Target {
  refId?: string;
  expr?: string;
  query?: string;
  groupBy?: string;
  legendFormat?: string;
  instant?: boolean;
  format?: string;
  datasource?: { type?: string; uid?: string };
}

export interface Panel {
  id: number;
  type: string;
  title?: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string; min?: number; max?: number; thresholds?: { steps?: { value: number | null; color: string }[] } } };
  options?: { limit?: number; content?: string };
}

export interface Variable {
  name: string;
  label?: string;
  type: 'query' | 'custom' | 'constant' | 'interval' | string;
  query?: string;
  datasource?: { type?: string; uid?: string };
  multi?: boolean;
  includeAll?: boolean;
  current?: { text?: string | string[]; value?: string | string[] };
}

export interface Dashboard {
  uid: string;
  title: string;
  description?: string;
  refresh?: string;
  time?: { from?: string; to?: string };
  templating?: { list?: Variable[] };
  panels?: Panel[];
}

export const ALL = '$__all';

/** A variable's options: `label_values(metric, label)`, `label_values(label)`, `field_values(field)` or a custom list. */
export async function variableOptions(v: Variable, window: { start: number; end: number }): Promise<string[]> {
  const q = (v.query ?? '').trim();
  if (v.type === 'custom' || v.type === 'constant') return q.split(',').map((s) => s.trim()).filter(Boolean);
  if (v.type !== 'query') return [];
  let m = /^label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)$/.exec(q);
  if (m) return (await labelValues(m[2]!, m[1] || undefined)).sort();
  m = /^field_values\(\s*([\w.]+)\s*\)$/.exec(q);
  if (m) {
    const fields = await logFields('', window);
    return (fields.fields.find((f) => f.name === m![1])?.values ?? []).map((x) => x.value).sort();
  }
  return [];
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Replaces `$name`, `${name}` and `[[name]]` with each variable's value for PromQL (regex syntax) or log queries. */
export function interpolate(text: string, values: Record<string, string[]>, lang: 'promql' | 'logs', interval: number): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)\]\]|\$([A-Za-z0-9_]+)/g, (whole, a, b, c) => {
    const name: string = a ?? b ?? c;
    if (name === '__interval' || name === '__rate_interval') return `${Math.max(interval, lang === 'promql' ? 60 : 1)}s`;
    if (name === '__range') return `${interval}s`;
    const vals = values[name];
    if (!vals) return whole;
    const all = vals.includes(ALL);
    if (lang === 'promql') {
      if (all) return '.*';
      return vals.length === 1 ? escapeRegex(vals[0]!) : `(${vals.map(escapeRegex).join('|')})`;
    }
    if (all || vals.length === 0) return '*';
    return vals.length === 1 ? quote(vals[0]!) : `(${vals.map(quote).join(' OR ')})`;
  });
}

export const isLogs = (panel: Panel, t?: Target) => (t?.datasource?.type ?? panel.datasource?.type) === 'lookout-logs';

export type PanelData =
  | { kind: 'series'; series: Series[] }
  | { kind: 'stat'; value: number | null; label?: string }
  | { kind: 'table'; columns: string[]; rows: (string | number)[][] }
  | { kind: 'logs'; hits: LogHit[]; total: number };

interface Ctx {
  values: Record<string, string[]>;
  window: { start: number; end: number };
  signal: AbortSignal;
}

/** Runs a panel's targets and shapes the answer for its type. */
export async function loadPanel(panel: Panel, ctx: Ctx): Promise<PanelData> {
  const { window, signal } = ctx;
  const span = window.end - window.start;
  const targets = panel.targets ?? [];
  const step = Math.max(1, niceStep(span, 200));
  if (panel.type === 'logs') {
    const t = targets[0];
    const q = interpolate(t?.query ?? '', ctx.values, 'logs', step);
    const r = await searchLogs(q, window, panel.options?.limit ?? 50, signal);
    return { kind: 'logs', hits: r.hits, total: r.total };
  }
  if (panel.type === 'timeseries') {
    const series: Series[] = [];
    for (const t of targets) {
      if (isLogs(panel, t)) series.push(...(await logSeries(t, ctx, niceStep(span, 60))));
      else {
        const expr = interpolate(t.expr ?? '', ctx.values, 'promql', step);
        const data = await queryRange(expr, window.start, window.end, step, signal);
        if (data.resultType === 'matrix')
          for (const s of data.result)
            series.push({ label: legend(t.legendFormat, s.metric), xs: s.values.map((v) => v[0]), ys: s.values.map((v) => Number(v[1])) });
      }
    }
    return { kind: 'series', series };
  }
  if (panel.type === 'stat') {
    const t = targets[0];
    if (!t) return { kind: 'stat', value: null };
    if (isLogs(panel, t)) {
      const q = interpolate(t.query ?? '', ctx.values, 'logs', step);
      const h = await logsHistogram(q, window, niceStep(span, 60), signal);
      return { kind: 'stat', value: h.total };
    }
    const data = await queryInstant(interpolate(t.expr ?? '', ctx.values, 'promql', step), window.end, signal);
    if (data.resultType === 'vector') return { kind: 'stat', value: data.result.length ? Number(data.result[0]!.value[1]) : null };
    if (data.resultType === 'scalar') return { kind: 'stat', value: Number(data.result[1]) };
    return { kind: 'stat', value: null };
  }
  if (panel.type === 'table') {
    const rows: Record<string, string | number>[] = [];
    for (const t of targets) {
      if (isLogs(panel, t)) {
        const field = t.groupBy ?? 'service';
        const f = await logFields(interpolate(t.query ?? '', ctx.values, 'logs', step), window, signal);
        for (const v of f.fields.find((x) => x.name === field)?.values ?? []) rows.push({ [field]: v.value, count: v.count });
      } else {
        const data = await queryInstant(interpolate(t.expr ?? '', ctx.values, 'promql', step), window.end, signal);
        if (data.resultType === 'vector')
          for (const s of data.result) rows.push({ ...s.metric, Value: Number(s.value[1]) });
      }
    }
    const columns: string[] = [];
    for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
    // The value column last, as Grafana's table transform shows it.
    columns.sort((a, b) => Number(a === 'Value' || a === 'count') - Number(b === 'Value' || b === 'count') || (a === '__name__' ? -1 : b === '__name__' ? 1 : 0));
    return { kind: 'table', columns, rows: rows.map((r) => columns.map((c) => r[c] ?? '')) };
  }
  return { kind: 'series', series: [] };
}

/** Log lines per second for a log target, one series per value of `groupBy` (top values). */
async function logSeries(t: Target, ctx: Ctx, step: number): Promise<Series[]> {
  const q = interpolate(t.query ?? '', ctx.values, 'logs', step);
  const groups: { label: string; q: string }[] = [];
  if (t.groupBy) {
    const f = await logFields(q, ctx.window, ctx.signal);
    for (const v of f.fields.find((x) => x.name === t.groupBy)?.values ?? []) {
      const clause = `${t.groupBy}:${quote(v.value)}`;
      groups.push({ label: legend(t.legendFormat, { [t.groupBy]: v.value }), q: q.trim() ? `(${q}) AND ${clause}` : clause });
    }
  } else groups.push({ label: t.legendFormat || q || 'all logs', q });
  return Promise.all(
    groups.map(async (g) => {
      const h = await logsHistogram(g.q, ctx.window, step, ctx.signal);
      return { label: g.label, xs: h.buckets.map((b) => b.start), ys: h.buckets.map((b) => b.count / h.step) };
    }),
  );
}

export function loadDashboard(uid: string, signal?: AbortSignal): Promise<Dashboard> {
  return getJSON<Dashboard>(`/api/v1/dashboards/${encodeURIComponent(uid)}`, {}, signal);
}
