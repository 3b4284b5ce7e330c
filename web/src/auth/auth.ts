// Who the user is to the API: one token, kept in localStorage so a reload stays
// signed in. Today the token comes from CloudCord's password routes; OAuth's
// authorization code + PKCE flow will replace `register`/`login` here and nothing
// else (the rest of the client only calls `currentSession` and `signOut`).

import { ApiError } from '../api/rest';

/** Who the user is comes from the gateway's READY; the session is only the token. */
export interface Session {
  token: string;
}

const STORAGE_KEY = 'cloudcord.session';

export function currentSession(): Session | null {
  const raw = localStorage.getItem(STORAGE_KEY);
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.token === 'string') return { token: parsed.token };
  } catch {
    // A damaged entry is as good as none.
  }
  localStorage.removeItem(STORAGE_KEY);
  return null;
}

export function signOut(): void {
  localStorage.removeItem(STORAGE_KEY);
}

/** Register answers `{token}`, login `{user_id, token}`; errors are Discord's shape. */
interface TokenAnswer {
  token?: unknown;
  message?: string;
  code?: number;
  errors?: unknown;
}

async function post(path: string, body: unknown): Promise<Session> {
  const response = await fetch(`/api/v10${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json().catch(() => ({}))) as TokenAnswer;
  if (!response.ok || typeof json.token !== 'string') {
    throw new ApiError(response.status, json.code ?? 0, json.message ?? `${response.status}`, json.errors);
  }
  const session = { token: json.token };
  const position = response.headers.get('X-CloudCord-Position');
  if (position !== null) await waitForAccount(session.token, position);
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  return session;
}

/** Each read waits a bounded while on the server (503 when the read models are still
 * behind); this many of them are enough for a busy stack. */
const ACCOUNT_WAIT_ATTEMPTS = 6;

/** A new account reaches the read models (where the gateway's Identify looks the
 * user up) a moment after registering answers: a read naming the register's
 * position returns once it is there. */
async function waitForAccount(token: string, position: string): Promise<void> {
  for (let attempt = 0; attempt < ACCOUNT_WAIT_ATTEMPTS; attempt++) {
    const response = await fetch('/api/v10/users/@me', {
      headers: { Authorization: `Bearer ${token}`, 'X-CloudCord-Position': position },
    });
    if (response.status !== 503) return;
  }
}

export function register(username: string, password: string): Promise<Session> {
  return post('/auth/register', { username, password });
}

export function login(username: string, password: string): Promise<Session> {
  return post('/auth/login', { login: username, password });
}
