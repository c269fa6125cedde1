// The field list beside the hits: every field of the current matches with its top values and
// counts; a value filters the query for it, "−" excludes it.
import { useState } from 'preact/hooks';
import type { FieldsResponse } from '../../api';

interface Props {
  fields: FieldsResponse | null;
  error?: string;
  onFilter: (field: string, value: string, exclude: boolean) => void;
}

export function FieldSidebar({ fields, error, onFilter }: Props) {
  const [open, setOpen] = useState<Set<string>>(() => new Set(['level', 'service', 'host']));
  return (
    <aside class="field-sidebar" aria-label="Fields" data-testid="field-sidebar">
      <h2>Fields</h2>
      {error && <p class="panel-error">{error}</p>}
      {!fields && !error && <p class="status">Loading…</p>}
      {fields && fields.fields.length === 0 && <p class="muted">No fields</p>}
      {fields && (
        <ul class="fields">
          {fields.fields.map((f) => {
            const isOpen = open.has(f.name);
            const base = f.exact ? fields.total : fields.sampled;
            return (
              <li key={f.name} data-field={f.name}>
                <button
                  type="button"
                  class="field-name"
                  aria-expanded={isOpen}
                  onClick={() =>
                    setOpen((s) => {
                      const n = new Set(s);
                      if (n.has(f.name)) n.delete(f.name);
                      else n.add(f.name);
                      return n;
                    })
                  }
                  title={`${f.name} is in ${f.count.toLocaleString()} of ${base.toLocaleString()} ${f.exact ? 'matches' : `sampled matches (the newest ${fields.sampled})`}`}
                >
                  {f.name} <span class="muted">{base ? `${Math.round((100 * f.count) / base)}%` : ''}</span>
                </button>
                {isOpen && (
                  <ul class="field-values">
                    {f.values.map((v) => (
                      <li key={v.value}>
                        <button
                          type="button"
                          class="field-value"
                          data-testid="field-value"
                          data-field={f.name}
                          data-value={v.value}
                          onClick={() => onFilter(f.name, v.value, false)}
                          title={`Only ${f.name}:${v.value}`}
                        >
                          <span class="bar" style={{ width: `${base ? Math.round((100 * v.count) / base) : 0}%` }} />
                          <span class="v">{v.value || '""'}</span>
                          <span class="c">{v.count.toLocaleString()}</span>
                        </button>
                        <button type="button" class="field-exclude" title={`Exclude ${f.name}:${v.value}`} aria-label={`Exclude ${f.name}:${v.value}`} onClick={() => onFilter(f.name, v.value, true)}>
                          −
                        </button>
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </aside>
  );
}
