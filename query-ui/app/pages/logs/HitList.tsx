// The results list, virtualised: only the rows in (and near) the scrolled viewport exist in the
// DOM, so 10,000 hits scroll as smoothly as 100. Collapsed rows have a fixed height; an
// expanded row is measured after it renders. Rows added at the top (live tail) keep the rows the
// user is reading in place: the scroll position moves by the height added above them.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { LogHit } from '../../api';
import { HitRow, ROW_HEIGHT } from './HitRow';

const OVERSCAN = 600;

interface Props {
  hits: LogHit[];
  onFilter: (field: string, value: unknown, exclude: boolean) => void;
  /** Ids of rows that just arrived (live tail), highlighted briefly. */
  fresh?: Set<string>;
}

export function HitList({ hits, onFilter, fresh }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(800);
  const [open, setOpen] = useState<Set<string>>(() => new Set());
  const heights = useRef(new Map<string, number>());
  const [, remeasured] = useState(0);
  const firstId = useRef<string | undefined>(undefined);

  // Rows prepended above the viewport: keep what the user is reading where it was.
  useLayoutEffect(() => {
    const el = scroller.current;
    const prev = firstId.current;
    firstId.current = hits[0]?.id;
    if (!el || !prev || hits[0]?.id === prev) return;
    const idx = hits.findIndex((h) => h.id === prev);
    if (idx > 0 && el.scrollTop > 0) {
      el.scrollTop += idx * ROW_HEIGHT;
      setScrollTop(el.scrollTop);
    }
  }, [hits]);

  useLayoutEffect(() => {
    const el = scroller.current!;
    const update = () => setViewport(el.clientHeight || 800);
    update();
    const ro = new ResizeObserver(update);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const height = (h: LogHit) => (open.has(h.id) ? heights.current.get(h.id) ?? ROW_HEIGHT * 8 : ROW_HEIGHT);
  let first = 0;
  let top = 0;
  while (first < hits.length && top + height(hits[first]!) < scrollTop - OVERSCAN) top += height(hits[first++]!);
  let last = first;
  let bottom = top;
  while (last < hits.length && bottom < scrollTop + viewport + OVERSCAN) bottom += height(hits[last++]!);
  let rest = 0;
  for (let i = last; i < hits.length; i++) rest += height(hits[i]!);

  const measure = (id: string) => (el: HTMLLIElement | null) => {
    if (!el) return;
    const h = el.getBoundingClientRect().height;
    if (h && Math.abs((heights.current.get(id) ?? 0) - h) > 1) {
      heights.current.set(id, h);
      requestAnimationFrame(() => remeasured((n) => n + 1));
    }
  };

  return (
    <div class="hits-scroll" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} data-testid="hits-scroll">
      <ol class="hits" data-testid="hits" aria-rowcount={hits.length}>
        {top > 0 && <li aria-hidden="true" class="spacer" style={{ height: `${top}px` }} />}
        {hits.slice(first, last).map((hit) => (
          <HitRow
            key={hit.id}
            hit={hit}
            rowRef={open.has(hit.id) ? measure(hit.id) : undefined}
            open={open.has(hit.id)}
            fresh={fresh?.has(hit.id)}
            onFilter={onFilter}
            onToggle={() =>
              setOpen((s) => {
                const n = new Set(s);
                if (n.has(hit.id)) n.delete(hit.id);
                else n.add(hit.id);
                return n;
              })
            }
          />
        ))}
        {rest > 0 && <li aria-hidden="true" class="spacer" style={{ height: `${rest}px` }} />}
      </ol>
    </div>
  );
}

