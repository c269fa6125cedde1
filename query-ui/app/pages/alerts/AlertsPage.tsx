// The Alerts page: alerts grouped as Alertmanager notifies them (firing) and the rules' pending
// alerts, with state, age, labels, annotations and escalation step; acknowledge, unacknowledge,
// resolve; a silence form pre-filled from an alert's labels; the silences with expire.
// State in the URL: /alerts?tab=silences, /alerts?silence=<fingerprint> opens the form.
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../api';
import { navigate, useLocation } from '../../router';
import { ago, formatLocal, parseTimestamp } from '../../time';
import {
  alertAction,
  alertGroups,
  createSilence,
  expireSilence,
  ruleAlerts,
  silences,
  type Alert,
  type AlertGroup,
  type Matcher,
  type RuleAlert,
  type Silence,
} from './api';

const USER_KEY = 'lookout.user';
const user = () => {
  try {
    return localStorage.getItem(USER_KEY) || 'ui';
  } catch {
    return 'ui';
  }
};

const since = (ts: string) => ago((Date.now() - parseTimestamp(ts)) / 1000);

export function AlertsPage() {
  const { search } = useLocation();
  const params = new URLSearchParams(search);
  const tab = params.get('tab') === 'silences' ? 'silences' : 'alerts';
  const silenceFor = params.get('silence');
  const [groups, setGroups] = useState<AlertGroup[] | null>(null);
  const [pending, setPending] = useState<RuleAlert[]>([]);
  const [sils, setSils] = useState<Silence[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    Promise.all([alertGroups(abort.signal), silences(abort.signal)]).then(
      ([g, s]) => {
        setGroups(g);
        setSils(s);
        setError(null);
      },
      (e) => !abort.signal.aborted && setError(e instanceof ApiError ? e : new ApiError(String(e), 0)),
    );
    ruleAlerts(abort.signal).then(
      (r) => setPending(r.alerts.filter((a) => a.state === 'pending')),
      () => setPending([]),
    );
    const t = setTimeout(() => setTick((n) => n + 1), 10_000);
    return () => {
      abort.abort();
      clearTimeout(t);
    };
  }, [tick]);

  const act = async (a: Alert, action: 'ack' | 'unack' | 'resolve') => {
    const comment = action === 'resolve' ? 'resolved from the UI' : action === 'ack' ? 'acknowledged from the UI' : '';
    try {
      await alertAction(a.fingerprint, action, user(), comment);
      setNotice(`${action === 'ack' ? 'Acknowledged' : action === 'unack' ? 'Unacknowledged' : 'Resolved'} ${a.labels.alertname ?? a.fingerprint}`);
      setTick((n) => n + 1);
    } catch (e) {
      setNotice(`Could not ${action}: ${(e as Error).message}`);
    }
  };

  const setParam = (k: string, v: string | null) => {
    const p = new URLSearchParams(search);
    if (v === null) p.delete(k);
    else p.set(k, v);
    navigate(`/alerts${p.toString() ? `?${p}` : ''}`);
  };

  const all = groups?.flatMap((g) => g.alerts) ?? [];
  const target = silenceFor ? all.find((a) => a.fingerprint === silenceFor) : undefined;

  return (
    <div class="alerts">
      <h1>Alerts</h1>
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'alerts'} data-testid="tab-alerts" onClick={() => setParam('tab', null)}>
          Alerts {groups && <span class="count">{all.length}</span>}
        </button>
        <button type="button" role="tab" aria-selected={tab === 'silences'} data-testid="tab-silences" onClick={() => setParam('tab', 'silences')}>
          Silences {sils && <span class="count">{sils.filter((s) => s.status.state !== 'expired').length}</span>}
        </button>
      </div>
      {error && (
        <div class="banner error" role="alert" data-testid="alerts-error">
          {error.status === 404 ? 'The alerting API is not available on this server yet.' : `Cannot load alerts: ${error.message}`}
        </div>
      )}
      {notice && (
        <div class="banner info" role="status" data-testid="alerts-notice">
          {notice}
        </div>
      )}
      {silenceFor && (
        <SilenceForm
          alert={target}
          onDone={(msg) => {
            setNotice(msg);
            const p = new URLSearchParams(search);
            p.delete('silence');
            p.set('tab', 'silences');
            navigate(`/alerts?${p}`);
            setTick((n) => n + 1);
          }}
          onCancel={() => setParam('silence', null)}
        />
      )}
      {tab === 'alerts' && groups && (
        <>
          {pending.length > 0 && (
            <section class="alert-group" data-testid="pending-alerts">
              <h2>
                Pending <span class="muted">(waiting for their rule's "for")</span>
              </h2>
              {pending.map((a, i) => (
                <div class="alert-card pending" key={i}>
                  <div class="alert-title">
                    <span class="badge pending">pending</span> <strong>{a.labels.alertname}</strong>
                    {a.activeAt && <span class="muted"> active {since(a.activeAt)}</span>}
                  </div>
                  <Labels labels={a.labels} />
                  {a.annotations.summary && <p>{a.annotations.summary}</p>}
                </div>
              ))}
            </section>
          )}
          {groups.length === 0 && pending.length === 0 && (
            <div class="empty" data-testid="no-alerts">
              <p class="empty-title">No alerts</p>
              <p>Nothing is firing or pending.</p>
            </div>
          )}
          {groups.map((g, gi) => (
            <section class="alert-group" key={gi} data-testid="alert-group">
              <h2>
                <Labels labels={g.labels} /> <span class="muted">→ {g.receiver.name}</span>
              </h2>
              {g.alerts.map((a) => (
                <AlertCard key={a.fingerprint} a={a} onAction={act} onSilence={() => setParam('silence', a.fingerprint)} />
              ))}
            </section>
          ))}
        </>
      )}
      {tab === 'silences' && sils && <SilenceList silences={sils} onChange={(m) => { setNotice(m); setTick((n) => n + 1); }} />}
    </div>
  );
}

function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (!entries.length) return <span class="muted">(no grouping labels)</span>;
  return (
    <span class="labels">
      {entries.map(([k, v]) => (
        <span class="label" key={k}>
          {k}=<strong>{v}</strong>
        </span>
      ))}
    </span>
  );
}

function AlertCard({ a, onAction, onSilence }: { a: Alert; onAction: (a: Alert, act: 'ack' | 'unack' | 'resolve') => void; onSilence: () => void }) {
  const state = a.status.state === 'suppressed' ? (a.status.silencedBy.length ? 'silenced' : 'inhibited') : 'firing';
  return (
    <div class={`alert-card ${state}`} data-testid="alert" data-fingerprint={a.fingerprint}>
      <div class="alert-title">
        <span class={`badge ${state}`}>{state}</span> <strong>{a.labels.alertname ?? a.fingerprint}</strong>{' '}
        <span class="muted" title={formatLocal(a.startsAt)}>
          since {since(a.startsAt)}
        </span>
        {a.escalation && (
          <span class="badge escalation" data-testid="escalation">
            {a.escalation.policy} · step {a.escalation.step + 1}
          </span>
        )}
        {a.ack && (
          <span class="badge acked" data-testid="ack" title={a.ack.comment}>
            acknowledged by {a.ack.by} {since(a.ack.at)}
          </span>
        )}
      </div>
      <Labels labels={a.labels} />
      {Object.keys(a.annotations).length > 0 && (
        <dl class="annotations">
          {Object.entries(a.annotations).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
      <div class="alert-actions">
        {a.ack ? (
          <button type="button" data-testid="unack" onClick={() => onAction(a, 'unack')}>
            Unacknowledge
          </button>
        ) : (
          <button type="button" class="primary" data-testid="ack-button" onClick={() => onAction(a, 'ack')}>
            Acknowledge
          </button>
        )}
        <button type="button" data-testid="resolve" onClick={() => onAction(a, 'resolve')}>
          Resolve
        </button>
        <button type="button" data-testid="silence-button" onClick={onSilence}>
          Silence…
        </button>
        {a.generatorURL && (
          <a href={a.generatorURL} class="muted">
            source
          </a>
        )}
      </div>
    </div>
  );
}

const toLocalInput = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

function SilenceForm({ alert, onDone, onCancel }: { alert?: Alert; onDone: (msg: string) => void; onCancel: () => void }) {
  const [matchers, setMatchers] = useState<Matcher[]>(() =>
    Object.entries(alert?.labels ?? {}).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true })),
  );
  const [start, setStart] = useState(() => toLocalInput(new Date()));
  const [end, setEnd] = useState(() => toLocalInput(new Date(Date.now() + 2 * 3600 * 1000)));
  const [by, setBy] = useState(user);
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      localStorage.setItem(USER_KEY, by);
    } catch {
      /* ignore */
    }
    try {
      const r = await createSilence({
        matchers: matchers.filter((m) => m.name),
        startsAt: new Date(start).toISOString(),
        endsAt: new Date(end).toISOString(),
        createdBy: by,
        comment,
      });
      onDone(`Silence ${r.silenceID} created`);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const update = (i: number, m: Partial<Matcher>) => setMatchers((ms) => ms.map((x, j) => (j === i ? { ...x, ...m } : x)));
  return (
    <form class="silence-form" onSubmit={submit} data-testid="silence-form">
      <h2>New silence</h2>
      <table class="matchers">
        <tbody>
          {matchers.map((m, i) => (
            <tr key={i} data-testid="matcher">
              <td>
                <input aria-label="Label" value={m.name} onInput={(e) => update(i, { name: e.currentTarget.value })} />
              </td>
              <td>
                <select
                  aria-label="Operator"
                  value={`${m.isEqual === false ? '!' : '='}${m.isRegex ? '~' : ''}`}
                  onChange={(e) => {
                    const v = e.currentTarget.value;
                    update(i, { isEqual: !v.startsWith('!'), isRegex: v.endsWith('~') });
                  }}
                >
                  {['=', '!=', '=~', '!~'].map((o) => (
                    <option key={o} value={o === '!=' ? '!' : o === '!~' ? '!~' : o}>
                      {o}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <input aria-label="Value" value={m.value} onInput={(e) => update(i, { value: e.currentTarget.value })} />
              </td>
              <td>
                <button type="button" aria-label="Remove matcher" onClick={() => setMatchers((ms) => ms.filter((_, j) => j !== i))}>
                  ×
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={() => setMatchers((ms) => [...ms, { name: '', value: '', isRegex: false, isEqual: true }])}>
        Add matcher
      </button>
      <div class="form-row">
        <label>
          Starts <input type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </label>
        <label>
          Ends <input type="datetime-local" value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
        </label>
        <label>
          Created by <input data-testid="silence-by" value={by} onInput={(e) => setBy(e.currentTarget.value)} required />
        </label>
      </div>
      <label class="block">
        Comment <input data-testid="silence-comment" value={comment} onInput={(e) => setComment(e.currentTarget.value)} required />
      </label>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <div class="form-row">
        <button type="submit" class="primary" data-testid="silence-submit">
          Create silence
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function SilenceList({ silences: list, onChange }: { silences: Silence[]; onChange: (msg: string) => void }) {
  if (!list.length)
    return (
      <div class="empty" data-testid="no-silences">
        <p class="empty-title">No silences</p>
        <p>Create one from an alert with "Silence…".</p>
      </div>
    );
  const order = { active: 0, pending: 1, expired: 2 } as const;
  const sorted = [...list].sort((a, b) => order[a.status.state] - order[b.status.state] || b.startsAt.localeCompare(a.startsAt));
  return (
    <table class="data-table" data-testid="silences-table">
      <thead>
        <tr>
          <th>State</th>
          <th>Matchers</th>
          <th>Starts</th>
          <th>Ends</th>
          <th>Created by</th>
          <th>Comment</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {sorted.map((s) => (
          <tr key={s.id} data-testid="silence-row" class={s.status.state}>
            <td>
              <span class={`badge ${s.status.state}`}>{s.status.state}</span>
            </td>
            <td class="mono">
              {s.matchers.map((m) => `${m.name}${m.isEqual === false ? '!' : '='}${m.isRegex ? '~' : ''}"${m.value}"`).join(', ')}
            </td>
            <td>{formatLocal(s.startsAt).slice(0, 16)}</td>
            <td>{formatLocal(s.endsAt).slice(0, 16)}</td>
            <td>{s.createdBy}</td>
            <td>{s.comment}</td>
            <td>
              {s.status.state !== 'expired' && (
                <button
                  type="button"
                  data-testid="expire"
                  onClick={() =>
                    expireSilence(s.id).then(
                      () => onChange(`Silence ${s.id} expired`),
                      (e) => onChange(`Could not expire: ${(e as Error).message}`),
                    )
                  }
                >
                  Expire
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
