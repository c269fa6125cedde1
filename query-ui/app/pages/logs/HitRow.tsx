// One log event in the results: a summary line that expands to the event's JSON fields.
import { useState } from 'preact/hooks';
import type { LogHit } from '../../api';
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

export function HitRow({ hit }: { hit: LogHit }) {
  const [open, setOpen] = useState(false);
  const detailId = `hit-${hit.id}`;
  return (
    <li class={open ? 'hit open' : 'hit'} data-testid="hit" data-id={hit.id}>
      <button
        type="button"
        class="hit-summary"
        aria-expanded={open}
        aria-controls={detailId}
        onClick={() => setOpen(!open)}
      >
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
      {open && (
        <div class="hit-detail" id={detailId} data-testid="hit-detail">
          {hit.message && <p class="hit-full-message">{hit.message}</p>}
          <pre class="json">{JSON.stringify(hit.fields ?? {}, null, 2)}</pre>
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
      )}
    </li>
  );
}
