// The shell: top navigation and the current page.
import { useEffect } from 'preact/hooks';
import { match, routes } from './routes';
import { onLinkClick, useLocation } from './router';

export function App() {
  const { pathname } = useLocation();
  const route = match(pathname);

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
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="/" onClick={onLinkClick}>
          <img src="/favicon.svg" alt="" width={18} height={18} />
          Lookout
        </a>
        <nav aria-label="Main">
          <ul>
            {routes.map((r) => (
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
