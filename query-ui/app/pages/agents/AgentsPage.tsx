// The Agents page: every agent that shipped logs here, refreshed every few seconds; agents not
// heard from for a while are marked stale and listed in red. Drops and buffer use are what the
// agent itself reports with each request; drops that grew recently are highlighted.
import { useEffect, useState } from 'preact/hooks';
import { listAgents, type AgentInfo } from '../../api';
import { ago, formatMs } from '../../time';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

function bufferTitle(a: AgentInfo): string {
  const parts = [`${a.buffer_events.toLocaleString()} events` + (a.buffer_max_events ? ` of ${a.buffer_max_events.toLocaleString()}` : '')];
  if (a.buffer_max_bytes) parts.push(`${bytes(a.buffer_bytes)} of ${bytes(a.buffer_max_bytes)} on disk`);
  return parts.join(', ');
}

function BufferCell({ a }: { a: AgentInfo }) {
  if (a.buffer_use === null) {
    return (
      <td class="num muted" data-testid="agent-buffer" title="This agent does not report its buffer (older version)">
        —
      </td>
    );
  }
  const pct = Math.round(a.buffer_use * 100);
  const level = pct >= 90 ? 'full' : pct >= 50 ? 'high' : 'ok';
  return (
    <td data-testid="agent-buffer" title={bufferTitle(a)}>
      <div class={`meter ${level}`} role="meter" aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100} aria-label="Buffer use">
        <div class="meter-fill" style={{ width: `${pct}%` }} />
        <span class="meter-text">{pct}%</span>
      </div>
    </td>
  );
}

function DropsCell({ a, window }: { a: AgentInfo; window: number }) {
  if (!a.reports_stats) {
    return (
      <td class="num muted" data-testid="agent-drops" title="This agent does not report its drops (older version)">
        —
      </td>
    );
  }
  const title = a.dropping
    ? `Grew ${ago(Math.max(0, Date.now() / 1000 - a.dropped_changed_at))}; events the agent dropped (filters, throttles, full buffers, rejections), summed across its restarts`
    : a.dropped_events
      ? `No new drops in the last ${Math.round(window / 60)} min; events the agent dropped, summed across its restarts`
      : 'Events the agent dropped (filters, throttles, full buffers, rejections)';
  return (
    <td class={a.dropping ? 'num dropping' : 'num'} data-testid="agent-drops" data-dropping={a.dropping} title={title}>
      {a.dropped_events.toLocaleString()}
      {a.dropping && <span class="badge pending">rising</span>}
    </td>
  );
}

const POLL_MS = 5000;

export function AgentsPage() {
  const [agents, setAgents] = useState<AgentInfo[] | null>(null);
  const [staleAfter, setStaleAfter] = useState(120);
  const [dropWindow, setDropWindow] = useState(300);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let abort = new AbortController();
    const load = () => {
      abort = new AbortController();
      listAgents(abort.signal).then(
        (r) => {
          setAgents(r.agents);
          setStaleAfter(r.stale_after_seconds);
          setDropWindow(r.dropping_window_seconds);
          setError(null);
        },
        (e) => !abort.signal.aborted && setError((e as Error).message),
      );
    };
    load();
    const t = setInterval(load, POLL_MS);
    return () => {
      clearInterval(t);
      abort.abort();
    };
  }, []);

  const stale = agents?.filter((a) => a.stale).length ?? 0;
  const dropping = agents?.filter((a) => a.dropping).length ?? 0;
  return (
    <div class="agents">
      <h1>Agents</h1>
      {error && (
        <div class="banner error" role="alert">
          Cannot load agents: {error}
        </div>
      )}
      {!agents && !error && <p class="status">Loading…</p>}
      {agents && agents.length === 0 && (
        <div class="empty" data-testid="no-agents">
          <p class="empty-title">No agent has shipped logs yet</p>
          <p>
            Point an agent's <code>lookout</code> sink at this aggregator; it appears here with its first batch.
          </p>
        </div>
      )}
      {agents && agents.length > 0 && (
        <>
          <p class="summary">
            <span>
              <strong>{agents.length}</strong> {agents.length === 1 ? 'agent' : 'agents'}
            </span>
            {stale > 0 ? (
              <span class="badge stale">{stale} stale</span>
            ) : (
              <span class="muted">all reported within {staleAfter} s</span>
            )}
            {dropping > 0 && (
              <span class="badge pending">
                {dropping} dropping events
              </span>
            )}
          </p>
          <table class="data-table" data-testid="agents-table">
            <thead>
              <tr>
                <th>Host</th>
                <th>Agent id</th>
                <th>Version</th>
                <th>Last contact</th>
                <th class="num">Events/s</th>
                <th class="num">Events</th>
                <th class="num" title="How old the newest event of the latest batch was when it arrived">
                  Delivery lag
                </th>
                <th class="num" title="Requests refused by the aggregator (the agent retries them)">
                  Rejected
                </th>
                <th class="num" title="Retried batches recognised as already stored">
                  Duplicates
                </th>
                <th class="num" title="Events the agent dropped, all causes, as it reports them; highlighted while the count is growing">
                  Drops
                </th>
                <th title="How full the agent's sink buffer is (the fuller of its event and byte limits)">Buffer</th>
                <th class="num" title="Files (sink streams) this agent has shipped from">
                  Files
                </th>
              </tr>
            </thead>
            <tbody>
              {agents.map((a) => (
                <tr key={a.id} class={a.stale ? 'stale' : undefined} data-testid="agent-row" data-stale={a.stale}>
                  <td>
                    {a.host || <span class="muted">unknown</span>} {a.stale && <span class="badge stale">stale</span>}
                  </td>
                  <td class="mono">{a.id}</td>
                  <td>{a.version || <span class="muted">—</span>}</td>
                  <td title={formatMs(a.last_contact * 1000)}>{ago(a.seconds_since_contact)}</td>
                  <td class="num">{a.events_per_second.toFixed(a.events_per_second < 10 ? 1 : 0)}</td>
                  <td class="num">{a.events.toLocaleString()}</td>
                  <td class={a.lag_seconds > 60 ? 'num warn' : 'num'}>{a.lag_seconds.toFixed(1)} s</td>
                  <td class={a.rejected_requests ? 'num warn' : 'num'}>
                    {a.rejected_requests ? `${a.rejected_requests} (${a.rejected_events} events)` : 0}
                  </td>
                  <td class="num">{a.duplicate_batches}</td>
                  <DropsCell a={a} window={dropWindow} />
                  <BufferCell a={a} />
                  <td class="num" title={Object.entries(a.streams).map(([st, off]) => `${st} @ ${off}`).join('\n')}>
                    {Object.keys(a.streams).length}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
