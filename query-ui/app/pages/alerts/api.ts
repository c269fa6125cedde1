// The Alertmanager API v2 as the Alerts page uses it (field names exactly as Alertmanager's
// OpenAPI spec), plus Lookout's acknowledgement and escalation extras.
import { getJSON, promGet, sendJSON } from '../../api';

export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

/** Alertmanager's `gettableAlert`, with Lookout's optional `ack` and `escalation`. */
export interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  fingerprint: string;
  generatorURL?: string;
  receivers: { name: string }[];
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
  ack?: { by: string; at: string; comment?: string } | null;
  escalation?: { policy: string; step: number } | null;
}

export interface AlertGroup {
  labels: Record<string, string>;
  receiver: { name: string };
  alerts: Alert[];
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  createdBy: string;
  comment: string;
  status: { state: 'active' | 'pending' | 'expired' };
}

/** A Prometheus `/api/v1/alerts` entry (rule-side state: pending or firing). */
export interface RuleAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
  activeAt?: string;
  value?: string;
}

export const alertGroups = (signal?: AbortSignal) => getJSON<AlertGroup[]>('/api/v2/alerts/groups', {}, signal);
export const silences = (signal?: AbortSignal) => getJSON<Silence[]>('/api/v2/silences', {}, signal);
export const ruleAlerts = (signal?: AbortSignal) => promGet<{ alerts: RuleAlert[] }>('/api/v1/alerts', {}, signal);

export function createSilence(s: { matchers: Matcher[]; startsAt: string; endsAt: string; createdBy: string; comment: string }) {
  return sendJSON<{ silenceID: string }>('POST', '/api/v2/silences', s);
}

export const expireSilence = (id: string) => sendJSON<unknown>('DELETE', `/api/v2/silence/${encodeURIComponent(id)}`);

export function alertAction(fingerprint: string, action: 'ack' | 'unack' | 'resolve', by: string, comment: string) {
  return sendJSON<unknown>('POST', `/api/v1/alerts/${encodeURIComponent(fingerprint)}/${action}`, { by, comment });
}
