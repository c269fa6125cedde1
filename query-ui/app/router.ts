// Client-side routing for a single-page app served by the aggregator.
//
// The aggregator answers every non-API GET path with index.html, so each page has a real
// path (/logs) and the page's state lives in the query string (?q=...&range=1h): links are
// shareable and the browser's back and forward buttons work. The history API is the only
// source of truth; components read it through `useLocation` and change it with `navigate`.
import { useEffect, useState } from 'preact/hooks';

/** The parts of the URL that pages look at. */
export interface Location {
  pathname: string;
  search: string;
}

const CHANGE = 'lookout:navigate';

function current(): Location {
  return { pathname: window.location.pathname, search: window.location.search };
}

/**
 * Goes to `url` (a path with an optional query string). Pushes a history entry unless
 * `replace` is set or the URL is unchanged, then tells every `useLocation` subscriber.
 */
export function navigate(url: string, { replace = false } = {}): void {
  const before = window.location.pathname + window.location.search;
  if (url === before) return;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
}

/** The current location, re-rendering the component when it changes. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => {
      const next = current();
      setLoc((prev) =>
        prev.pathname === next.pathname && prev.search === next.search ? prev : next,
      );
    };
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return loc;
}

/**
 * Handles a click on an in-app link without reloading the page. Ctrl/Cmd/Shift-click and
 * middle-click keep the browser's behaviour (open in a new tab or window).
 */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (anchor.target && anchor.target !== '_self') return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}
