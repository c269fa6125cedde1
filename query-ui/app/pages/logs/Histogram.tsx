// Hit counts over the time window, drawn with uPlot as one bar per bucket.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { HistogramResponse, TimeWindow } from '../../api';
import { timeTicks } from '../../components/Chart';

const HEIGHT = 150;

// Tick increments for counts: whole numbers only (1, 2, 5, 10, 20, 50, ...).
const countIncrs = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9].flatMap((p) => [p, 2 * p, 5 * p]);

const axisStyle = {
  stroke: '#5b6472',
  font: '11px system-ui, -apple-system, "Segoe UI", sans-serif',
  grid: { stroke: '#edf0f4', width: 1 },
  ticks: { stroke: '#d6dbe2', width: 1, size: 4 },
};

export function Histogram({
  data,
  window,
  onZoom,
}: {
  data: HistogramResponse;
  window: TimeWindow;
  /** Called with the dragged-over span, in Unix seconds. */
  onZoom?: (start: number, end: number) => void;
}) {
  const zoom = useRef(onZoom);
  zoom.current = onZoom;
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // The x axis always spans the searched window, even where the buckets are empty.
  const windowRef = useRef(window);
  windowRef.current = window;

  useEffect(() => {
    const el = container.current!;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const a = u.posToVal(u.select.left, 'x');
            const b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoom.current?.(Math.floor(a), Math.ceil(b));
          },
        ],
      },
      scales: {
        x: { time: true, range: () => [windowRef.current.start, windowRef.current.end] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
      },
      axes: [
        { ...axisStyle, space: 80, values: timeTicks },
        { ...axisStyle, size: 48, space: 24, incrs: countIncrs },
      ],
      series: [
        {},
        {
          label: 'Logs',
          stroke: '#2f6fde',
          fill: 'rgba(47, 111, 222, 0.55)',
          width: 0,
          // Each bucket's bar starts at its start time and fills (most of) its width.
          paths: uPlot.paths.bars!({ align: 1, size: [0.9, Infinity], gap: 1 }),
          points: { show: false },
        },
      ],
    };
    const u = new uPlot(opts, [[], []], el);
    plot.current = u;
    const resize = new ResizeObserver(() => {
      const width = Math.max(el.clientWidth, 200);
      if (width !== u.width) u.setSize({ width, height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    const xs = data.buckets.map((b) => b.start);
    const ys = data.buckets.map((b) => b.count);
    plot.current?.setData([xs, ys]);
  }, [data]);

  return (
    <div
      class="histogram"
      ref={container}
      data-testid="histogram"
      role="img"
      title="Drag across the histogram to zoom into that time range"
      aria-label={`Histogram of ${data.total} matching logs in ${data.buckets.length} buckets of ${data.step} seconds`}
    />
  );
}
