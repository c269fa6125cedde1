// Live tail: new lines matching the query as the server streams them (server-sent events from
// /api/v1/logs/tail), newest first, at most MAX kept. Lines are added once per animation frame
// so a burst does not re-render per line; the list keeps the reader's place (see HitList).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogHit } from '../../api';
import { HitList } from './HitList';

const MAX = 5000;

export function Tail({ q, onFilter }: { q: string; onFilter: (f: string, v: unknown, exclude: boolean) => void }) {
  const [hits, setHits] = useState<LogHit[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [state, setState] = useState<'connecting' | 'open' | 'error'>('connecting');
  const [dropped, setDropped] = useState(0);
  const pending = useRef<LogHit[]>([]);

  useEffect(() => {
    setHits([]);
    const es = new EventSource(`/api/v1/logs/tail?${new URLSearchParams({ q })}`);
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = pending.current.reverse();
      pending.current = [];
      setHits((h) => [...batch, ...h].slice(0, MAX));
      setFresh(new Set(batch.map((b) => b.id)));
    };
    es.onopen = () => setState('open');
    es.onerror = () => setState('error');
    es.onmessage = (e) => {
      try {
        pending.current.push(JSON.parse(e.data) as LogHit);
      } catch {
        return;
      }
      if (!frame) frame = requestAnimationFrame(flush);
    };
    es.addEventListener('dropped', (e) => {
      try {
        setDropped((d) => d + (JSON.parse((e as MessageEvent).data).dropped as number));
      } catch {
        /* ignore */
      }
    });
    return () => {
      es.close();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [q]);

  return (
    <>
      <div class="summary-slot">
        <div class="summary" data-testid="tail-status">
          <span class={`live-dot ${state}`} aria-hidden="true" />
          <span>
            {state === 'open' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…'} · <strong>{hits.length.toLocaleString()}</strong> new{' '}
            {hits.length === 1 ? 'line' : 'lines'}
          </span>
          {dropped > 0 && <span class="warn">{dropped} lines skipped (too fast to show)</span>}
          {hits.length >= MAX && <span class="muted">keeping the newest {MAX}</span>}
        </div>
      </div>
      {hits.length ? (
        <HitList hits={hits} onFilter={onFilter} fresh={fresh} />
      ) : (
        <div class="empty" data-testid="tail-empty">
          <p class="empty-title">Waiting for new lines</p>
          <p>Lines that match the query appear here as they are indexed.</p>
        </div>
      )}
    </>
  );
}
