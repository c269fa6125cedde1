// PromQL completion: metric names, label names inside `{…}` and `by (…)`, label values after
// `label="`, and function names. Names come from the Prometheus API and are cached per page.
import { labelNames, labelValues } from '../../api';
import type { Completion, Suggestion } from '../../components/CompletingInput';

const FUNCTIONS = [
  'abs', 'absent', 'absent_over_time', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min',
  'count_over_time', 'day_of_month', 'day_of_week', 'delta', 'deriv', 'exp', 'floor', 'histogram_quantile',
  'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'last_over_time', 'ln',
  'log2', 'log10', 'max_over_time', 'min_over_time', 'minute', 'month', 'predict_linear', 'quantile_over_time',
  'rate', 'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt', 'stddev_over_time', 'sum_over_time',
  'time', 'timestamp', 'vector', 'year',
];
const AGGREGATIONS = ['sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group'];

/** Completion for one editor; caches what it fetched. */
export class PromCompleter {
  private metrics?: Promise<string[]>;
  private labels = new Map<string, Promise<string[]>>();
  private values = new Map<string, Promise<string[]>>();

  metricNames(): Promise<string[]> {
    this.metrics ??= labelValues('__name__').catch(() => {
      this.metrics = undefined;
      return [];
    });
    return this.metrics;
  }

  private labelNamesFor(metric: string): Promise<string[]> {
    let p = this.labels.get(metric);
    if (!p) {
      p = labelNames(metric || undefined).then((l) => l.filter((n) => n !== '__name__')).catch(() => []);
      this.labels.set(metric, p);
    }
    return p;
  }

  private valuesFor(label: string, metric: string): Promise<string[]> {
    const key = `${label}\u0000${metric}`;
    let p = this.values.get(key);
    if (!p) {
      p = labelValues(label, metric || undefined).catch(() => []);
      this.values.set(key, p);
    }
    return p;
  }

  async suggest(text: string, cursor: number): Promise<Completion | null> {
    const before = text.slice(0, cursor);
    // Inside a selector's braces?
    const open = before.lastIndexOf('{');
    if (open > before.lastIndexOf('}')) {
      const metric = /([a-zA-Z_:][\w:]*)\s*$/.exec(before.slice(0, open))?.[1] ?? '';
      const inside = before.slice(open + 1);
      const val = /([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/.exec(inside);
      if (val) {
        const [, label, , partial] = val;
        const values = await this.valuesFor(label!, metric);
        return {
          from: cursor - partial!.length,
          to: cursor,
          items: rank(values, partial!).map((v) => ({ label: v, insert: `${v}"` })),
        };
      }
      const name = /(?:^|[,{\s])([a-zA-Z_]\w*)?$/.exec(inside);
      if (name) {
        const partial = name[1] ?? '';
        const labels = await this.labelNamesFor(metric);
        return { from: cursor - partial.length, to: cursor, items: rank(labels, partial).map((l) => ({ label: l, insert: `${l}="`, detail: 'label' })) };
      }
      return null;
    }
    // Inside `by (` / `without (`?
    const grouping = /\b(?:by|without)\s*\(([^)]*)$/.exec(before);
    if (grouping) {
      const partial = /([a-zA-Z_]\w*)?$/.exec(grouping[1]!)?.[1] ?? '';
      const labels = await this.labelNamesFor('');
      return { from: cursor - partial.length, to: cursor, items: rank(labels, partial).map((l) => ({ label: l, detail: 'label' })) };
    }
    // Inside a range `[5m` or a string: nothing.
    if (before.lastIndexOf('[') > before.lastIndexOf(']')) return null;
    if ((before.match(/"/g)?.length ?? 0) % 2 === 1) return null;
    const word = /([a-zA-Z_:][\w:]*)$/.exec(before)?.[1];
    if (!word) return null;
    const metrics = await this.metricNames();
    const items: Suggestion[] = [
      ...rank([...AGGREGATIONS, ...FUNCTIONS], word).map((f) => ({ label: f, insert: `${f}(`, detail: 'function' })),
      ...rank(metrics, word).map((m) => ({ label: m, detail: 'metric' })),
    ];
    if (items.length === 1 && items[0]!.label === word) return null;
    return { from: cursor - word.length, to: cursor, items };
  }
}

/** Names containing `partial`, those starting with it first. */
export function rank(names: string[], partial: string): string[] {
  const p = partial.toLowerCase();
  const starts: string[] = [];
  const contains: string[] = [];
  for (const n of names) {
    const l = n.toLowerCase();
    if (l.startsWith(p)) starts.push(n);
    else if (p && l.includes(p)) contains.push(n);
  }
  return [...starts, ...contains];
}

/** `name{a="1", b="2"}` for a label set. */
export function seriesName(metric: Record<string, string>): string {
  const { __name__: name = '', ...rest } = metric;
  const labels = Object.entries(rest)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  return labels ? `${name}{${labels}}` : name || '{}';
}

/** Grafana's legendFormat: `{{instance}}` replaced by the label's value. */
export function legend(format: string | undefined, metric: Record<string, string>): string {
  if (!format) return seriesName(metric);
  return format.replace(/\{\{\s*([a-zA-Z_]\w*)\s*\}\}/g, (_, k: string) => metric[k] ?? '');
}
