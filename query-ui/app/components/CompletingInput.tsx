// A query box with a completion list: the page supplies `suggest`, which looks at the text and
// cursor and returns the span to replace and the candidates. Up/Down choose, Tab accepts (Enter
// too, once the user moved through the list), Escape closes; otherwise Enter submits
// (Shift+Enter is a new line in the multi-line variant).
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Suggestion {
  label: string;
  /** Text inserted instead of the label, if different. */
  insert?: string;
  detail?: string;
}

export interface Completion {
  from: number;
  to: number;
  items: Suggestion[];
}

export type Suggest = (text: string, cursor: number) => Promise<Completion | null> | Completion | null;

interface Props {
  id: string;
  value: string;
  onInput: (v: string) => void;
  onSubmit: () => void;
  suggest: Suggest;
  placeholder?: string;
  multiline?: boolean;
  invalid?: boolean;
  describedBy?: string;
  testid?: string;
  label: string;
}

export function CompletingInput(p: Props) {
  const ref = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const [completion, setCompletion] = useState<Completion | null>(null);
  const [active, setActive] = useState(0);
  const [navigated, setNavigated] = useState(false);
  const seq = useRef(0);

  const refresh = async (text: string, cursor: number) => {
    const n = ++seq.current;
    let c: Completion | null = null;
    try {
      c = await p.suggest(text, cursor);
    } catch {
      c = null;
    }
    if (n !== seq.current) return;
    setCompletion(c && c.items.length ? c : null);
    setActive(0);
    setNavigated(false);
  };

  const accept = (s: Suggestion) => {
    if (!completion) return;
    const text = p.value;
    const ins = s.insert ?? s.label;
    const next = text.slice(0, completion.from) + ins + text.slice(completion.to);
    p.onInput(next);
    setCompletion(null);
    const pos = completion.from + ins.length;
    requestAnimationFrame(() => {
      ref.current?.focus();
      ref.current?.setSelectionRange(pos, pos);
      void refresh(next, pos);
    });
  };

  useEffect(() => {
    if (ref.current && p.multiline) {
      ref.current.style.height = 'auto';
      ref.current.style.height = `${Math.min(ref.current.scrollHeight, 200)}px`;
    }
  }, [p.value, p.multiline]);

  const onKeyDown = (e: KeyboardEvent) => {
    if (completion) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        setActive((a) => (a + 1) % completion.items.length);
        setNavigated(true);
        return;
      }
      if (e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((a) => (a - 1 + completion.items.length) % completion.items.length);
        setNavigated(true);
        return;
      }
      if (e.key === 'Tab' || (e.key === 'Enter' && navigated && !e.ctrlKey && !e.metaKey)) {
        e.preventDefault();
        accept(completion.items[active]!);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setCompletion(null);
        return;
      }
    }
    if (e.key === 'Enter' && !(p.multiline && e.shiftKey)) {
      e.preventDefault();
      setCompletion(null);
      p.onSubmit();
    }
    if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      const t = e.currentTarget as HTMLInputElement;
      void refresh(t.value, t.selectionStart ?? t.value.length);
    }
  };

  // Typed loosely: the same attributes go on an <input> or a <textarea>.
  const common: Record<string, unknown> = {
    id: p.id,
    ref,
    class: p.invalid ? 'query-input invalid' : 'query-input',
    'data-testid': p.testid,
    value: p.value,
    placeholder: p.placeholder,
    autocomplete: 'off',
    spellcheck: false,
    role: p.multiline ? undefined : 'combobox',
    'aria-autocomplete': 'list' as const,
    'aria-expanded': !!completion,
    'aria-controls': `${p.id}-list`,
    'aria-activedescendant': completion ? `${p.id}-opt-${active}` : undefined,
    'aria-invalid': p.invalid ? true : undefined,
    'aria-describedby': p.describedBy,
    onInput: (e: Event) => {
      const t = e.currentTarget as HTMLInputElement;
      p.onInput(t.value);
      void refresh(t.value, t.selectionStart ?? t.value.length);
    },
    onKeyDown,
    onBlur: () => setTimeout(() => setCompletion(null), 150),
  };

  return (
    <div class="completing">
      <label class="visually-hidden" for={p.id}>
        {p.label}
      </label>
      {p.multiline ? <textarea rows={1} {...(common as object)} /> : <input type="text" {...(common as object)} />}
      {completion && (
        <ul class="completions" id={`${p.id}-list`} role="listbox" data-testid="completions">
          {completion.items.slice(0, 50).map((s, i) => (
            <li
              key={s.label}
              id={`${p.id}-opt-${i}`}
              role="option"
              aria-selected={i === active}
              class={i === active ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(s);
              }}
            >
              <span class="completion-label">{s.label}</span>
              {s.detail && <span class="completion-detail">{s.detail}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
