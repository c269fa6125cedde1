// The Audit page (admins): every sign-in and every change — who, when, from where, what, and
// the object's state before and after — newest first, from GET /api/v1/audit.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJSON } from '../../api';
import { formatLocal } from '../../time';

interface AuditRow {
  id: number;
  ts_ms: number;
  actor: string;
  addr: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  status: number;
}

const show = (v: unknown) => (v === null || v === undefined ? '' : JSON.stringify(v));

export function AuditPage() {
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [actor, setActor] = useState('');
  useEffect(() => {
    const abort = new AbortController();
    getJSON<{ data: AuditRow[] }>('/api/v1/audit', { limit: 500, actor: actor || undefined }, abort.signal).then(
      (d) => {
        setRows(d.data);
        setError(null);
      },
      (e) => !abort.signal.aborted && setError(e instanceof ApiError ? e : new ApiError(String(e), 0)),
    );
    return () => abort.abort();
  }, [actor]);
  return (
    <div class="audit">
      <h1>Audit log</h1>
      <form
        class="audit-filter"
        onSubmit={(e) => {
          e.preventDefault();
          const v = new FormData(e.currentTarget as HTMLFormElement).get('actor');
          setActor(typeof v === 'string' ? v.trim() : '');
        }}
      >
        <label>
          Actor <input name="actor" placeholder="user:alice or token:agent-1" defaultValue={actor} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {error && (
        <div class="banner error" role="alert" data-testid="audit-error">
          {error.status === 403 ? 'Only admins can read the audit log.' : `Cannot load the audit log: ${error.message}`}
        </div>
      )}
      {!rows && !error && <p class="status">Loading…</p>}
      {rows && rows.length === 0 && (
        <div class="empty">
          <p class="empty-title">Nothing recorded yet</p>
        </div>
      )}
      {rows && rows.length > 0 && (
        <table class="data-table">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>From</th>
              <th>What</th>
              <th>Target</th>
              <th class="num">Status</th>
              <th>Before</th>
              <th>After</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid="audit-row" class={r.status >= 400 ? 'failing' : undefined}>
                <td>{formatLocal(new Date(r.ts_ms).toISOString())}</td>
                <td>{r.actor}</td>
                <td>{r.addr}</td>
                <td>
                  <code>{r.action}</code>
                </td>
                <td>
                  <code class="small">{r.target}</code>
                </td>
                <td class="num">{r.status || ''}</td>
                <td>
                  <code class="small">{show(r.before)}</code>
                </td>
                <td>
                  <code class="small">{show(r.after)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
