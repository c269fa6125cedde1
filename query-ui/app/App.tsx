// The shell: top navigation and the current page.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Me, UNAUTHORIZED_EVENT, fetchMe, signOut } from './api';
import { SignIn } from './components/SignIn';
import { match, routes } from './routes';
import { onLinkClick, useLocation } from './router';

export function App() {
  const { pathname } = useLocation();
  const route = match(pathname);
  // undefined: asking the server; null: nobody signed in.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [authError, setAuthError] = useState<string | null>(null);

  useEffect(() => {
    fetchMe().then(setMe, (e) => {
      if (e instanceof ApiError && e.status === 401) setMe(null);
      else {
        setAuthError(e instanceof ApiError ? e.message : String(e));
        setMe(null);
      }
    });
    const onUnauthorized = () => setMe(null);
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, []);

  useEffect(() => {
    document.title = route ? `${route.title} · Lookout` : 'Not found · Lookout';
  }, [route]);

  // "/" focuses the page's query box, as in Kibana and Grafana.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
      if (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)) return;
      const box = document.querySelector<HTMLElement>('.query-input');
      if (box) {
        e.preventDefault();
        box.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const Page = route?.component;
  if (me === undefined) return <p class="status">Loading…</p>;
  if (me === null)
    return (
      <div class="shell">
        {authError && <div class="banner error">{authError}</div>}
        <SignIn onSignedIn={setMe} />
      </div>
    );
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="/" onClick={onLinkClick}>
          <img src="/favicon.svg" alt="" width={18} height={18} />
          Lookout
        </a>
        <nav aria-label="Main">
          <ul>
            {routes.filter((r) => !r.role || me.role === r.role).map((r) => (
              <li key={r.path}>
                <a
                  href={r.path}
                  onClick={onLinkClick}
                  aria-current={route === r ? 'page' : undefined}
                >
                  {r.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {me.auth_enabled && (
          <div class="whoami" data-testid="whoami">
            <span>
              {me.user ?? me.actor} <span class="badge">{me.role}</span>
            </span>
            <button
              type="button"
              onClick={() => {
                void signOut().finally(() => setMe(null));
              }}
            >
              Sign out
            </button>
          </div>
        )}
      </header>
      <main class="page">
        {Page ? (
          <Page />
        ) : (
          <section class="not-found">
            <h1>Page not found</h1>
            <p>
              Nothing lives at <code>{pathname}</code>.{' '}
              <a href="/" onClick={onLinkClick}>
                Go to the start page
              </a>
              .
            </p>
          </section>
        )}
      </main>
    </div>
  );
}
