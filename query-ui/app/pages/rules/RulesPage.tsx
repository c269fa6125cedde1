// The Rules page: every rule group from Prometheus's /api/v1/rules, each rule with its health,
// last evaluation, evaluation time and last error.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, promGet } from '../../api';
import { ago, formatLocal, parseTimestamp } from '../../time';

interface Rule {
  type: 'alerting' | 'recording';
  name: string;
  query: string;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  lastEvaluation?: string;
  evaluationTime?: number;
  state?: string;
  duration?: number;
  labels?: Record<string, string>;
  alerts?: unknown[];
}

interface Group {
  name: string;
  file: string;
  interval: number;
  rules: Rule[];
  lastEvaluation?: string;
  evaluationTime?: number;
}

export function RulesPage() {
  const [groups, setGroups] = useState<Group[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    const load = () =>
      promGet<{ groups: Group[] }>('/api/v1/rules', {}, abort.signal).then(
        (d) => {
          setGroups(d.groups);
          setError(null);
        },
        (e) => !abort.signal.aborted && setError(e instanceof ApiError ? e : new ApiError(String(e), 0)),
      );
    void load();
    const t = setInterval(load, 15_000);
    return () => {
      abort.abort();
      clearInterval(t);
    };
  }, []);

  const bad = groups?.flatMap((g) => g.rules).filter((r) => r.health === 'err').length ?? 0;
  return (
    <div class="rules">
      <h1>Rules</h1>
      {error && (
        <div class="banner error" role="alert" data-testid="rules-error">
          {error.status === 404 ? 'The rules API is not available on this server yet.' : `Cannot load rules: ${error.message}`}
        </div>
      )}
      {!groups && !error && <p class="status">Loading…</p>}
      {groups && groups.length === 0 && (
        <div class="empty" data-testid="no-rules">
          <p class="empty-title">No rules loaded</p>
          <p>
            List rule files under <code>rule_files</code> in lookout.toml.
          </p>
        </div>
      )}
      {bad > 0 && <div class="banner error">{bad} rule(s) failing</div>}
      {groups?.map((g) => (
        <section class="rule-group" key={`${g.file}/${g.name}`} data-testid="rule-group">
          <h2>
            {g.name} <span class="muted">{g.file} · every {g.interval}s</span>
          </h2>
          <table class="data-table">
            <thead>
              <tr>
                <th>Rule</th>
                <th>Health</th>
                <th>Last evaluation</th>
                <th class="num">Duration</th>
                <th>Error</th>
              </tr>
            </thead>
            <tbody>
              {g.rules.map((r) => (
                <tr key={r.name + r.query} class={r.health === 'err' ? 'failing' : undefined} data-testid="rule-row">
                  <td>
                    <div>
                      <span class="badge">{r.type === 'alerting' ? 'alert' : 'record'}</span> <strong>{r.name}</strong>
                      {r.state && r.state !== 'inactive' && <span class={`badge ${r.state}`}>{r.state}</span>}
                    </div>
                    <code class="small">{r.query}</code>
                  </td>
                  <td>
                    <span class={`badge health-${r.health}`}>{r.health}</span>
                  </td>
                  <td title={r.lastEvaluation ? formatLocal(r.lastEvaluation) : undefined}>
                    {r.lastEvaluation && !r.lastEvaluation.startsWith('0001') ? ago((Date.now() - parseTimestamp(r.lastEvaluation)) / 1000) : 'never'}
                  </td>
                  <td class="num">{r.evaluationTime !== undefined ? `${(r.evaluationTime * 1000).toFixed(1)} ms` : '—'}</td>
                  <td class="error-text">{r.lastError || ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
