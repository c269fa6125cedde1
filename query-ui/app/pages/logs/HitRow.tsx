// One log event in the results: a one-line summary that expands to the event's fields (each
// with filter and exclude buttons), its JSON, and the lines around it (context).
import { useState } from 'preact/hooks';
import { logContext, type ContextResponse, type LogHit } from '../../api';
import { formatLocal } from '../../time';

/** The colour class for a level: error/fatal red, warn yellow, info neutral, debug grey. */
export function levelClass(level: string | undefined): string {
  switch ((level ?? '').toLowerCase()) {
    case 'fatal':
    case 'panic':
    case 'critical':
    case 'crit':
    case 'emerg':
    case 'alert':
    case 'error':
    case 'err':
      return 'lvl-error';
    case 'warn':
    case 'warning':
      return 'lvl-warn';
    case 'info':
    case 'notice':
    case 'information':
      return 'lvl-info';
    case 'debug':
    case 'trace':
      return 'lvl-debug';
    case '':
      return 'lvl-none';
    default:
      return 'lvl-other';
  }
}

/** Every leaf of the event as `[dotted path, value]`, top-level members first. */
export function flatten(hit: LogHit): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const k of ['level', 'service', 'host', 'source'] as const) if (hit[k]) out.push([k, hit[k]]);
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    } else out.push([prefix, v]);
  };
  walk('', hit.fields ?? {});
  return out;
}

export const ROW_HEIGHT = 30;

interface Props {
  hit: LogHit;
  open: boolean;
  onToggle: () => void;
  onFilter: (field: string, value: unknown, exclude: boolean) => void;
  fresh?: boolean;
  /** Receives the row element (the list measures expanded rows). */
  rowRef?: (el: HTMLLIElement | null) => void;
}

export function HitRow({ hit, open, onToggle, onFilter, fresh, rowRef }: Props) {
  const detailId = `hit-${hit.id}`;
  return (
    <li ref={rowRef} class={`hit${open ? ' open' : ''}${fresh ? ' fresh' : ''}`} data-testid="hit" data-id={hit.id}>
      <button type="button" class="hit-summary" data-testid="hit-summary" aria-expanded={open} aria-controls={detailId} onClick={onToggle}>
        <time class="hit-time" dateTime={hit.timestamp} title={hit.timestamp}>
          {formatLocal(hit.timestamp)}
        </time>
        <span class={`hit-level ${levelClass(hit.level)}`} data-testid="hit-level">
          {hit.level || '—'}
        </span>
        <span class="hit-service" title={hit.service} data-testid="hit-service">
          {hit.service || '—'}
        </span>
        <span class="hit-host" title={hit.host} data-testid="hit-host">
          {hit.host || '—'}
        </span>
        <span class="hit-message" data-testid="hit-message">
          {hit.message ?? ''}
        </span>
      </button>
      {open && <Detail hit={hit} id={detailId} onFilter={onFilter} />}
    </li>
  );
}

function Detail({ hit, id, onFilter }: { hit: LogHit; id: string; onFilter: Props['onFilter'] }) {
  const [view, setView] = useState<'fields' | 'json'>('fields');
  const [context, setContext] = useState<ContextResponse | 'loading' | string | null>(null);
  const showContext = () => {
    setContext('loading');
    logContext(hit.id, 10).then(setContext, (e) => setContext(`Context unavailable: ${(e as Error).message}`));
  };
  return (
    <div class="hit-detail" id={id} data-testid="hit-detail">
      {hit.message && <p class="hit-full-message">{hit.message}</p>}
      <div class="detail-tabs">
        <button type="button" aria-pressed={view === 'fields'} onClick={() => setView('fields')}>
          Fields
        </button>
        <button type="button" aria-pressed={view === 'json'} onClick={() => setView('json')}>
          JSON
        </button>
        <button type="button" data-testid="context-button" onClick={showContext}>
          Context
        </button>
      </div>
      {view === 'fields' ? (
        <table class="hit-fields" data-testid="hit-fields">
          <tbody>
            {flatten(hit).map(([k, v]) => (
              <tr key={k}>
                <td class="hit-field-actions">
                  <button type="button" title={`Filter for ${k}`} aria-label={`Filter for ${k}`} data-testid="filter-in" data-field={k} onClick={() => onFilter(k, v, false)}>
                    +
                  </button>
                  <button type="button" title={`Exclude ${k}`} aria-label={`Exclude ${k}`} data-testid="filter-out" data-field={k} onClick={() => onFilter(k, v, true)}>
                    −
                  </button>
                </td>
                <th>{k}</th>
                <td class="mono">{typeof v === 'string' ? v : JSON.stringify(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <pre class="json" hidden={view !== 'json'}>{JSON.stringify(hit.fields ?? {}, null, 2)}</pre>
      {context && (
        <div class="context" data-testid="context">
          {context === 'loading' ? (
            <p class="status">Loading context…</p>
          ) : typeof context === 'string' ? (
            <p class="panel-error">{context}</p>
          ) : (
            <ol>
              {[...context.before, context.line, ...context.after].map((l) => (
                <li key={l.id} class={l.id === hit.id ? 'context-line current' : 'context-line'}>
                  <time>{formatLocal(l.timestamp).slice(11)}</time> <span class={`hit-level ${levelClass(l.level)}`}>{l.level || '—'}</span> {l.message}
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
      <p class="hit-id">
        {hit.timestamp}
        {hit.source && (
          <>
            {' · source '}
            <code>{hit.source}</code>
          </>
        )}
        {' · id '}
        <code>{hit.id}</code>
      </p>
    </div>
  );
}
