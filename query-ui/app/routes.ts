// The pages of the UI. The top navigation is built from this list, in this order; a new page
// is one entry here plus its component under pages/.
import type { ComponentType } from 'preact';
import { AgentsPage } from './pages/agents/AgentsPage';
import { AlertsPage } from './pages/alerts/AlertsPage';
import { AuditPage } from './pages/audit/AuditPage';
import { DashboardsPage } from './pages/dashboards/DashboardsPage';
import { LogsPage } from './pages/logs/LogsPage';
import { MetricsPage } from './pages/metrics/MetricsPage';
import { RulesPage } from './pages/rules/RulesPage';

/** One page: where it lives, what the navigation calls it, what renders it. */
export interface Route {
  path: string;
  title: string;
  component: ComponentType;
  /** Shown in the navigation only to this role (the API enforces it either way). */
  role?: 'admin';
}

export const routes: Route[] = [
  { path: '/logs', title: 'Logs', component: LogsPage },
  // /graph, as in Prometheus's UI: /metrics is the aggregator's own exposition.
  { path: '/graph', title: 'Metrics', component: MetricsPage },
  { path: '/dashboards', title: 'Dashboards', component: DashboardsPage },
  { path: '/alerts', title: 'Alerts', component: AlertsPage },
  { path: '/rules', title: 'Rules', component: RulesPage },
  { path: '/agents', title: 'Agents', component: AgentsPage },
  { path: '/audit', title: 'Audit', component: AuditPage, role: 'admin' },
];

/** The page shown at `/`. */
export const home: Route = routes[0]!;

/** The route that owns `pathname`, `home` for `/`, or undefined for an unknown path. */
export function match(pathname: string): Route | undefined {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/') return home;
  return routes.find((r) => path === r.path || path.startsWith(r.path + '/'));
}
