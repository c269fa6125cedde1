// The time picker: relative ranges ("Last 1 hour"), an absolute from/to, and local time or UTC.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  formatMs,
  parseInstant,
  rangeLabel,
  resolveRange,
  setUTC,
  timeRanges,
  useUTC,
  type RangeSpec,
} from '../time';

export function TimePicker({ value, onChange }: { value: RangeSpec; onChange: (spec: RangeSpec) => void }) {
  const utc = useUTC();
  const [open, setOpen] = useState(false);
  const win = resolveRange(value);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [error, setError] = useState('');
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    setFrom(formatMs(win.start * 1000, { millis: false }));
    setTo(formatMs(win.end * 1000, { millis: false }));
    setError('');
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);

  // Switching between local time and UTC keeps the instants typed so far and shows them in the
  // other zone (resetting the fields here would race with typing, and lose it).
  const switchZone = (next: boolean) => {
    if (next === utc) return;
    const convert = (text: string) => {
      const at = parseInstant(text, utc);
      return at === undefined ? text : formatMs(at * 1000, { millis: false, utc: next });
    };
    setFrom(convert);
    setTo(convert);
    setUTC(next);
  };

  const apply = (e: Event) => {
    e.preventDefault();
    e.stopPropagation();
    const start = parseInstant(from);
    const end = parseInstant(to);
    if (start === undefined || end === undefined) return setError('Use YYYY-MM-DD HH:MM:SS or Unix seconds');
    if (end <= start) return setError('"To" must be after "From"');
    setOpen(false);
    onChange({ kind: 'absolute', start, end });
  };

  return (
    <div class="time-picker" ref={box} onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
      <button
        type="button"
        class="range-button"
        data-testid="range-button"
        aria-haspopup="dialog"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        title={`${formatMs(win.start * 1000, { millis: false })} → ${formatMs(win.end * 1000, { millis: false })} ${utc ? 'UTC' : 'local time'}`}
      >
        {rangeLabel(value)} {utc && <span class="muted">UTC</span>} <span aria-hidden="true" class="caret-down">▾</span>
      </button>
      {open && (
        <div class="time-popover" role="dialog" aria-label="Time range" data-testid="time-popover">
          <ul class="time-quick">
            {timeRanges.map((r) => (
              <li key={r.key}>
                <button
                  type="button"
                  data-range={r.key}
                  aria-pressed={value.kind === 'relative' && value.range.key === r.key}
                  onClick={() => {
                    setOpen(false);
                    onChange({ kind: 'relative', range: r });
                  }}
                >
                  {r.label}
                </button>
              </li>
            ))}
          </ul>
          {/* Not a <form>: the picker sits inside the pages' query forms, and forms do not nest. */}
          <div class="time-absolute" onKeyDown={(e) => e.key === 'Enter' && apply(e)}>
            <label>
              From
              <input data-testid="range-from" value={from} onInput={(e) => setFrom(e.currentTarget.value)} spellcheck={false} />
            </label>
            <label>
              To
              <input data-testid="range-to" value={to} onInput={(e) => setTo(e.currentTarget.value)} spellcheck={false} />
            </label>
            {error && <p class="field-error">{error}</p>}
            <div class="time-tz" role="radiogroup" aria-label="Time zone">
              <label>
                <input type="radio" name="tz" checked={!utc} onChange={() => switchZone(false)} /> Local
              </label>
              <label>
                <input type="radio" name="tz" checked={utc} onChange={() => switchZone(true)} /> UTC
              </label>
            </div>
            <button type="button" class="primary" data-testid="range-apply" onClick={apply}>
              Apply range
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
