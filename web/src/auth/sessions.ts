// The session list's words: which device a session is, from what the provider
// recorded of it (its client and the browser's User-Agent at sign-in).

import type { UserSession } from '../api/types';

/** User-Agent tokens and what they mean, first match wins: Chrome's User-Agent also
 * says Safari, and Edge's and Opera's say Chrome. */
const BROWSERS: readonly (readonly [string, string])[] = [
  ['Edg/', 'Edge'],
  ['OPR/', 'Opera'],
  ['Firefox/', 'Firefox'],
  ['Chrome/', 'Chrome'],
  ['Safari/', 'Safari'],
];
const SYSTEMS: readonly (readonly [string, string])[] = [
  ['Android', 'Android'],
  ['iPhone', 'iOS'],
  ['iPad', 'iPadOS'],
  ['Windows', 'Windows'],
  ['Mac OS X', 'macOS'],
  ['CrOS', 'ChromeOS'],
  ['Linux', 'Linux'],
];

function lookup(agent: string, table: readonly (readonly [string, string])[]): string | undefined {
  return table.find(([token]) => agent.includes(token))?.[1];
}

/** "Chrome on Linux", "Firefox on Android"; for something that is not a browser, its
 * User-Agent's first word, or the client's id when it sent none. */
export function deviceName(session: UserSession): string {
  const agent = session.client_info.user_agent ?? '';
  const browser = lookup(agent, BROWSERS);
  if (browser === undefined) return agent.split(' ')[0] || session.client_info.client_id;
  const system = lookup(agent, SYSTEMS);
  return system === undefined ? browser : `${browser} on ${system}`;
}

/** The current session first, then by last use, newest first. */
export function orderSessions(sessions: UserSession[]): UserSession[] {
  return [...sessions].sort(
    (a, b) =>
      Number(b.current) - Number(a.current) ||
      (b.approx_last_used_time ?? '').localeCompare(a.approx_last_used_time ?? ''),
  );
}
