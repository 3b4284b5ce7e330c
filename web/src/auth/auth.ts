// Who the user is to the API. The client signs in through CloudCord's own OAuth 2.0 /
// OpenID Connect provider as its registered first-party public client `cloudcord`:
// the authorization code grant with PKCE (S256), the provider's sign-in page doing
// the password (the client never sees it when signing in), and the code exchanged
// at the token endpoint for an access token, a refresh token and an ID token, all
// checked by oauth4webapi (issuer, state, `iss` in the response, nonce, audience).
//
// Registering is the provider's `POST /auth/register`, which starts a session of the
// same kind for the same client (the sign-in page has no registration of its own).
//
// Access tokens live an hour; the refresh token renews them and is rotated on every
// use, and the provider revokes the whole session when a spent one is presented
// again. So two tabs must never refresh with the same token: refreshing takes a
// cross-tab lock (Web Locks) and first looks whether another tab already did.
// Signing out revokes the session at the provider (RFC 7009).
//
// The tokens are kept in localStorage so a reload stays signed in; the in-flight
// sign-in (verifier, state, nonce) in sessionStorage, which only this tab can read.

import * as oauth from 'oauth4webapi';

import { ApiError } from '../api/rest';

export const CLIENT_ID = 'cloudcord';
/** `openid` for the ID token that proves the sign-in; `identify` for the profile. */
const SCOPE = 'openid identify';
const STORAGE_KEY = 'cloudcord.session';
const PENDING_KEY = 'cloudcord.sign-in';
const LOCK_NAME = 'cloudcord.refresh';
/** Renew this long before the access token expires, so no request carries a dead one. */
export const REFRESH_MARGIN_MS = 60_000;
/** The client's callback path, registered with the provider. */
export const CALLBACK_PATH = '/oauth2/callback';

/** The tokens of one signed-in session. */
export interface Tokens {
  token: string;
  refreshToken: string;
  /** When the access token expires (ms since the epoch). */
  expiresAt: number;
}

type KeyValue = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** What the flows need from the browser, passed in so tests can supply their own. */
export interface AuthEnvironment {
  /** The page's origin: the provider's issuer identifier, and where it redirects back. */
  origin: string;
  /** Where the tokens are kept (localStorage, shared by the origin's tabs). */
  storage: KeyValue;
  /** Where a sign-in in progress is kept (sessionStorage, this tab's). */
  pending: KeyValue;
  fetch: typeof fetch;
  now: () => number;
  /** Runs `task` while no other tab runs one (Web Locks). */
  exclusive: <T>(task: () => Promise<T>) => Promise<T>;
}

export function browserEnvironment(): AuthEnvironment {
  return {
    origin: window.location.origin,
    storage: localStorage,
    pending: sessionStorage,
    fetch: (input, init) => fetch(input, init),
    now: () => Date.now(),
    exclusive: (task) =>
      // Without Web Locks (an old browser), a tab refreshes alone, as before locks.
      typeof navigator.locks === 'undefined' ? task() : navigator.locks.request(LOCK_NAME, task),
  };
}

const client: oauth.Client = { client_id: CLIENT_ID };

function requestOptions(env: AuthEnvironment) {
  return {
    [oauth.customFetch]: (url: string, options: oauth.CustomFetchOptions<string, unknown>) =>
      env.fetch(url, {
        method: options.method,
        headers: options.headers,
        body: (options.body ?? null) as BodyInit | null,
        redirect: options.redirect,
      }),
    // The provider is the page's own origin: over http only in development, where
    // the page itself is http, so https would protect nothing here. (The library
    // marks the option deprecated to make it stand out, which is the intent.)
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    [oauth.allowInsecureRequests]: env.origin.startsWith('http:'),
  };
}

/** The provider's metadata from OpenID discovery, checked to name this origin. */
async function discover(env: AuthEnvironment): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(env.origin);
  const response = await oauth.discoveryRequest(issuer, requestOptions(env));
  return oauth.processDiscoveryResponse(issuer, response);
}

function redirectUri(env: AuthEnvironment): string {
  return `${env.origin}${CALLBACK_PATH}`;
}

export function readTokens(storage: KeyValue): Tokens | null {
  const raw = storage.getItem(STORAGE_KEY);
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as { token?: unknown; refresh_token?: unknown; expires_at?: unknown };
    const { token, refresh_token: refreshToken, expires_at: expiresAt } = parsed;
    // An entry without a refresh token (from before OAuth) cannot be renewed: sign in again.
    if (typeof token === 'string' && typeof refreshToken === 'string' && typeof expiresAt === 'number') {
      return { token, refreshToken, expiresAt };
    }
  } catch {
    // A damaged entry is as good as none.
  }
  storage.removeItem(STORAGE_KEY);
  return null;
}

function writeTokens(storage: KeyValue, tokens: Tokens): void {
  storage.setItem(
    STORAGE_KEY,
    JSON.stringify({ token: tokens.token, refresh_token: tokens.refreshToken, expires_at: tokens.expiresAt }),
  );
}

/** What a sign-in in progress must remember across the provider's page. */
interface Pending {
  verifier: string;
  state: string;
  nonce: string;
  /** Where to go once signed in (an invite link followed while signed out). */
  returnTo: string;
}

/** The URL of the provider's sign-in page for a new sign-in; remembers its secrets. */
export async function signInUrl(env: AuthEnvironment, returnTo: string): Promise<string> {
  const as = await discover(env);
  if (as.authorization_endpoint === undefined) throw new Error('The sign-in service names no authorization endpoint.');
  const pending: Pending = {
    verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    returnTo,
  };
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(env),
    scope: SCOPE,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(pending.verifier),
    code_challenge_method: 'S256',
  }).toString();
  env.pending.setItem(PENDING_KEY, JSON.stringify(pending));
  return url.href;
}

/** Sends the browser to the provider's sign-in page. */
export async function beginSignIn(returnTo: string): Promise<void> {
  window.location.assign(await signInUrl(browserEnvironment(), returnTo));
}

/** A sign-in that did not complete, in words for the person. */
export class SignInError extends Error {
  override name = 'SignInError';
}

function tokensFrom(answer: oauth.TokenEndpointResponse, now: number): Tokens {
  if (answer.refresh_token === undefined) throw new SignInError('The sign-in service sent no refresh token.');
  return {
    token: answer.access_token,
    refreshToken: answer.refresh_token,
    // Without `expires_in`, the token's lifetime is unknown: renew it when refused.
    expiresAt: now + (answer.expires_in ?? Number.POSITIVE_INFINITY) * 1000,
  };
}

/** Completes the sign-in the provider redirected back with (`callback` is the
 * callback URL): checks it answers this tab's request, exchanges the code with the
 * PKCE verifier, checks the ID token, and keeps the tokens. */
export async function completeSignIn(
  env: AuthEnvironment,
  callback: URL,
): Promise<{ tokens: Tokens; returnTo: string }> {
  const raw = env.pending.getItem(PENDING_KEY);
  env.pending.removeItem(PENDING_KEY);
  if (raw === null) throw new SignInError('This sign-in was not started here (or was already used). Please sign in again.');
  const pending = JSON.parse(raw) as Pending;
  const as = await discover(env);
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, callback, pending.state);
  } catch (error) {
    // `access_denied` is the person pressing Cancel on the provider's page.
    if (error instanceof oauth.AuthorizationResponseError && error.error === 'access_denied') {
      throw new SignInError('Sign-in was cancelled.');
    }
    throw error;
  }
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(env),
    pending.verifier,
    requestOptions(env),
  );
  const answer = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  const tokens = tokensFrom(answer, env.now());
  writeTokens(env.storage, tokens);
  return { tokens, returnTo: pending.returnTo };
}

/** The seconds-since-epoch `exp` of a JWT access token, read (not verified) to know
 * when to renew it; the server verifies it on every use. */
function jwtExpiry(token: string): number {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    if (typeof exp === 'number') return exp * 1000;
  } catch {
    // Not a JWT we can read: renew when refused.
  }
  return Number.POSITIVE_INFINITY;
}

/** Each read waits a bounded while on the server (503 when the read models are still
 * behind); this many of them are enough for a busy stack. */
const ACCOUNT_WAIT_ATTEMPTS = 6;

/** Creates an account at the provider (`POST /auth/register`), which answers with a
 * new session's tokens, and waits until the read models know the account (where
 * the gateway's Identify looks the user up). */
export async function register(env: AuthEnvironment, username: string, password: string): Promise<Tokens> {
  const response = await env.fetch('/api/v10/auth/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const json = (await response.json().catch(() => ({}))) as {
    token?: unknown;
    refresh_token?: unknown;
    message?: string;
    code?: number;
    errors?: unknown;
  };
  if (!response.ok || typeof json.token !== 'string' || typeof json.refresh_token !== 'string') {
    throw new ApiError(response.status, json.code ?? 0, json.message ?? `${response.status}`, json.errors);
  }
  const tokens = { token: json.token, refreshToken: json.refresh_token, expiresAt: jwtExpiry(json.token) };
  const position = response.headers.get('X-CloudCord-Position');
  for (let attempt = 0; position !== null && attempt < ACCOUNT_WAIT_ATTEMPTS; attempt++) {
    const read = await env.fetch('/api/v10/users/@me', {
      headers: { Authorization: `Bearer ${tokens.token}`, 'X-CloudCord-Position': position },
    });
    if (read.status !== 503) break;
  }
  writeTokens(env.storage, tokens);
  return tokens;
}

/** The signed-in session's tokens: the current access token, renewing it, ending it. */
export class Auth {
  private tokens: Tokens;
  private refreshing: Promise<boolean> | null = null;

  constructor(
    tokens: Tokens,
    private readonly env: AuthEnvironment = browserEnvironment(),
  ) {
    this.tokens = tokens;
  }

  /** The signed-in session found in storage, if any. */
  static stored(env: AuthEnvironment = browserEnvironment()): Auth | null {
    const tokens = readTokens(env.storage);
    return tokens === null ? null : new Auth(tokens, env);
  }

  accessToken(): string {
    return this.tokens.token;
  }

  /** When the current access token should be renewed (ms since the epoch). */
  renewAt(): number {
    return this.tokens.expiresAt - REFRESH_MARGIN_MS;
  }

  /** Renews the access token with the refresh token (which is spent and replaced).
   * Resolves `false` when the session is over (revoked, expired): sign in again.
   * Concurrent calls share one refresh. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.env
      .exclusive(() => this.refreshExclusively())
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async refreshExclusively(): Promise<boolean> {
    const stored = readTokens(this.env.storage);
    if (stored === null) return false; // signed out in another tab
    if (stored.refreshToken !== this.tokens.refreshToken) {
      // Another tab refreshed while this one waited: its tokens are the live ones,
      // and this tab's refresh token is spent (presenting it would end the session).
      this.tokens = stored;
      return true;
    }
    try {
      const as = await discover(this.env);
      const response = await oauth.refreshTokenGrantRequest(
        as,
        client,
        oauth.None(),
        this.tokens.refreshToken,
        requestOptions(this.env),
      );
      const answer = await oauth.processRefreshTokenResponse(as, client, response);
      this.tokens = tokensFrom(answer, this.env.now());
      writeTokens(this.env.storage, this.tokens);
      return true;
    } catch (error) {
      // `invalid_grant`: revoked, expired or reused; the session is over. Anything
      // else (offline, a 5xx) may pass: keep the tokens and let the caller retry.
      if (error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant') {
        this.env.storage.removeItem(STORAGE_KEY);
        return false;
      }
      throw error;
    }
  }

  /** Ends the session at the provider and forgets the tokens. Forgetting does not
   * wait for the provider: signing out offline still signs out here. */
  async signOut(): Promise<void> {
    this.env.storage.removeItem(STORAGE_KEY);
    const as = await discover(this.env);
    const response = await oauth.revocationRequest(
      as,
      client,
      oauth.None(),
      this.tokens.refreshToken,
      requestOptions(this.env),
    );
    await oauth.processRevocationResponse(response);
  }
}

/** Whether `event` says another tab signed out (its storage entry was removed). */
export function signedOutElsewhere(event: StorageEvent): boolean {
  return event.key === STORAGE_KEY && event.newValue === null;
}
