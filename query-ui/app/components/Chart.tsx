// A uPlot line chart of time series, shared by the Metrics page and dashboard panels.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatValue } from '../format';
import { isUTC } from '../time';

export interface Series {
  label: string;
  /** Unix seconds, ascending. */
  xs: number[];
  ys: (number | null)[];
}

const PALETTE = ['#2f6fde', '#e8743b', '#19a979', '#945ecf', '#ed4a7b', '#13a4b4', '#bf399e', '#6c8893', '#ee6868', '#f2b447'];

export function colorOf(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** Aligns series on the union of their timestamps (uPlot wants one x array). */
export function align(series: Series[]): uPlot.AlignedData {
  const xs = Array.from(new Set(series.flatMap((s) => s.xs))).sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const cols = series.map((s) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    s.xs.forEach((x, i) => (col[index.get(x)!] = s.ys[i] ?? null));
    return col;
  });
  return [xs, ...cols] as uPlot.AlignedData;
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * Time tick labels on a 24-hour clock, in local time or UTC per the preference: seconds only
 * when ticks are under a minute apart, dates alone when they are a day or more apart, and the
 * date under the first tick of each day otherwise.
 */
export function timeTicks(_u: uPlot, splits: number[], _axis: number, _space: number, incr: number): string[] {
  let lastDay = '';
  const utc = isUTC();
  return splits.map((v) => {
    const d = new Date(v * 1000);
    const [y, mo, da, h, mi, s] = utc
      ? [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
      : [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
    const day = `${y}-${two(mo + 1)}-${two(da)}`;
    if (incr >= 86400) return day.slice(5);
    const time = `${two(h)}:${two(mi)}${incr < 60 ? `:${two(s)}` : ''}`;
    const label = day === lastDay ? time : `${time}\n${day}`;
    lastDay = day;
    return label;
  });
}

/** Width of a y axis that fits its longest label. */
const axisWidth = (_u: uPlot, values: string[] | null) => (values?.length ? Math.max(...values.map((v) => v.length)) * 6.5 + 16 : 40);

const axisStyle = {
  stroke: '#5b6472',
  font: '11px system-ui, -apple-system, "Segoe UI", sans-serif',
  grid: { stroke: '#edf0f4', width: 1 },
  ticks: { stroke: '#d6dbe2', width: 1, size: 4 },
};

export function Chart({
  series,
  range,
  height = 260,
  unit,
  legend = true,
  live = false,
  onZoom,
}: {
  series: Series[];
  range: { start: number; end: number };
  height?: number;
  unit?: string;
  legend?: boolean;
  /** Legend values follow the cursor (the Metrics page); otherwise the legend only names series. */
  live?: boolean;
  onZoom?: (start: number, end: number) => void;
}) {
  const el = useRef<HTMLDivElement>(null);
  const zoom = useRef(onZoom);
  zoom.current = onZoom;

  useEffect(() => {
    const box = el.current!;
    const opts: uPlot.Options = {
      width: Math.max(box.clientWidth, 200),
      height,
      legend: { show: legend, live },
      cursor: { drag: { x: !!onZoom, y: false }, points: { size: 6 } },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      scales: { x: { time: true, range: () => [range.start, range.end] } },
      axes: [
        { ...axisStyle, space: 80, values: timeTicks },
        { ...axisStyle, size: axisWidth, values: (_u, vals) => vals.map((v) => formatValue(v, unit)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: colorOf(i),
          width: 1.5,
          points: { show: s.xs.length < 3 },
          value: (_u: uPlot, v: number | null) => (v == null ? '—' : formatValue(v, unit)),
        })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3 || !zoom.current) return;
            const a = u.posToVal(u.select.left, 'x');
            const b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoom.current(Math.floor(a), Math.ceil(b));
          },
        ],
      },
    };
    const u = new uPlot(opts, align(series), box);
    const resize = new ResizeObserver(() => {
      const width = Math.max(box.clientWidth, 200);
      if (width !== u.width) u.setSize({ width, height });
    });
    resize.observe(box);
    return () => {
      resize.disconnect();
      u.destroy();
    };
  }, [series, range.start, range.end, height, unit, legend, live]);

  return (
    <div
      class="chart"
      ref={el}
      data-testid="chart"
      data-series={series.length}
      data-points={series.reduce((n, s) => n + s.ys.filter((y) => y != null).length, 0)}
    />
  );
}
