import { describe, expect, it } from 'vitest';

import { Auth, CLIENT_ID, completeSignIn, readTokens, register, signInUrl, type AuthEnvironment, type Tokens } from './auth';

const ORIGIN = 'http://127.0.0.1:8080';
const NOW = 1_800_000_000_000;

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const discovery = {
  issuer: ORIGIN,
  authorization_endpoint: `${ORIGIN}/oauth2/authorize`,
  token_endpoint: `${ORIGIN}/api/v10/oauth2/token`,
  revocation_endpoint: `${ORIGIN}/api/v10/oauth2/token/revoke`,
  id_token_signing_alg_values_supported: ['EdDSA'],
  authorization_response_iss_parameter_supported: true,
  code_challenge_methods_supported: ['S256'],
};

const base64url = (value: unknown) => bytesBase64url(new TextEncoder().encode(JSON.stringify(value)));

function bytesBase64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** An ID token as the provider signs it (the signature is not checked on a token
 * endpoint answer: TLS vouches for it). */
function idToken(nonce: string, overrides: Record<string, unknown> = {}): string {
  const claims = { iss: ORIGIN, sub: '42', aud: CLIENT_ID, iat: NOW / 1000, exp: NOW / 1000 + 3600, nonce, ...overrides };
  return `${base64url({ alg: 'EdDSA', typ: 'JWT' })}.${base64url(claims)}.c2ln`;
}

interface Sent {
  url: string;
  form: URLSearchParams;
}

/** A provider answering discovery, and the token and revocation endpoints with `answer`. */
function environment(answer: (form: URLSearchParams, url: string) => Response) {
  const sent: Sent[] = [];
  const storage = new MemoryStorage();
  const pending = new MemoryStorage();
  const env: AuthEnvironment = {
    origin: ORIGIN,
    storage,
    pending,
    now: () => NOW,
    exclusive: (task) => task(),
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : input.toString();
      if (url === `${ORIGIN}/.well-known/openid-configuration`) return Promise.resolve(json(200, discovery));
      // The library sends forms as URLSearchParams, the registration as a JSON string.
      const body = init?.body;
      const form = body instanceof URLSearchParams ? body : new URLSearchParams();
      sent.push({ url, form });
      return Promise.resolve(answer(form, url));
    },
  };
  return { env, sent, storage, pending };
}

function tokenAnswer(access: string, refresh: string, nonce?: string): Response {
  return json(200, {
    access_token: access,
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: refresh,
    ...(nonce === undefined ? {} : { id_token: idToken(nonce) }),
  });
}

const stored = (storage: MemoryStorage): Tokens | null => readTokens(storage);

describe('signing in with the authorization code and PKCE', () => {
  it('sends the browser to the provider with an S256 challenge of a verifier it keeps', async () => {
    const { env, pending } = environment(() => json(500, {}));
    const url = new URL(await signInUrl(env, '/invite/abc'));
    expect(url.origin + url.pathname).toBe(`${ORIGIN}/oauth2/authorize`);
    const params = url.searchParams;
    expect(params.get('response_type')).toBe('code');
    expect(params.get('client_id')).toBe('cloudcord');
    expect(params.get('redirect_uri')).toBe(`${ORIGIN}/oauth2/callback`);
    expect(params.get('scope')).toBe('openid identify');
    expect(params.get('code_challenge_method')).toBe('S256');
    const kept = JSON.parse(pending.getItem('cloudcord.sign-in') ?? '{}') as { verifier: string; state: string; nonce: string };
    expect(params.get('state')).toBe(kept.state);
    expect(params.get('nonce')).toBe(kept.nonce);
    expect(kept.verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(kept.verifier));
    expect(params.get('code_challenge')).toBe(bytesBase64url(new Uint8Array(digest)));
  });

  it('redeems the code with the verifier, checks the ID token and keeps the tokens', async () => {
    let nonce = '';
    const { env, sent, storage, pending } = environment(() => tokenAnswer('access-1', 'refresh-1', nonce));
    const url = new URL(await signInUrl(env, '/invite/abc'));
    nonce = url.searchParams.get('nonce') ?? '';
    const state = url.searchParams.get('state') ?? '';
    const verifier = (JSON.parse(pending.getItem('cloudcord.sign-in') ?? '{}') as { verifier: string }).verifier;

    const callback = new URL(`${ORIGIN}/oauth2/callback?code=the-code&state=${state}&iss=${encodeURIComponent(ORIGIN)}`);
    const { tokens, returnTo } = await completeSignIn(env, callback);
    expect(returnTo).toBe('/invite/abc');
    expect(tokens).toEqual({ token: 'access-1', refreshToken: 'refresh-1', expiresAt: NOW + 3_600_000 });
    expect(stored(storage)).toEqual(tokens);
    const [request] = sent;
    expect(request?.url).toBe(`${ORIGIN}/api/v10/oauth2/token`);
    expect(Object.fromEntries(request?.form ?? [])).toEqual({
      grant_type: 'authorization_code',
      code: 'the-code',
      code_verifier: verifier,
      redirect_uri: `${ORIGIN}/oauth2/callback`,
      client_id: 'cloudcord',
    });
    // The sign-in's secrets are spent: the same callback cannot be completed again.
    await expect(completeSignIn(env, callback)).rejects.toThrow(/not started here/);
  });

  it('refuses a callback that answers another request (state) or another issuer', async () => {
    const { env, sent } = environment(() => tokenAnswer('a', 'r', 'n'));
    await signInUrl(env, '/');
    await expect(
      completeSignIn(env, new URL(`${ORIGIN}/oauth2/callback?code=c&state=forged&iss=${encodeURIComponent(ORIGIN)}`)),
    ).rejects.toThrow();
    const url = new URL(await signInUrl(env, '/'));
    const state = url.searchParams.get('state') ?? '';
    await expect(
      completeSignIn(env, new URL(`${ORIGIN}/oauth2/callback?code=c&state=${state}&iss=${encodeURIComponent('http://evil.example')}`)),
    ).rejects.toThrow();
    expect(sent).toEqual([]);
  });

  it('refuses an ID token with another nonce', async () => {
    const { env } = environment(() => tokenAnswer('a', 'r', 'someone-elses'));
    const url = new URL(await signInUrl(env, '/'));
    const state = url.searchParams.get('state') ?? '';
    await expect(
      completeSignIn(env, new URL(`${ORIGIN}/oauth2/callback?code=c&state=${state}&iss=${encodeURIComponent(ORIGIN)}`)),
    ).rejects.toThrow();
  });

  it('says so when the person cancelled on the provider page', async () => {
    const { env } = environment(() => json(500, {}));
    const url = new URL(await signInUrl(env, '/'));
    const state = url.searchParams.get('state') ?? '';
    await expect(
      completeSignIn(
        env,
        new URL(`${ORIGIN}/oauth2/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(ORIGIN)}`),
      ),
    ).rejects.toThrow('Sign-in was cancelled.');
  });
});

describe('the signed-in session', () => {
  const first: Tokens = { token: 'access-1', refreshToken: 'refresh-1', expiresAt: NOW + 1000 };

  it('rotates the refresh token, once for concurrent callers', async () => {
    let issued = 1;
    const { env, sent, storage } = environment(() => {
      issued += 1;
      return tokenAnswer(`access-${issued}`, `refresh-${issued}`);
    });
    storage.setItem('cloudcord.session', JSON.stringify({ token: 'access-1', refresh_token: 'refresh-1', expires_at: NOW + 1000 }));
    const auth = new Auth(first, env);
    await expect(Promise.all([auth.refresh(), auth.refresh()])).resolves.toEqual([true, true]);
    expect(sent.map((request) => Object.fromEntries(request.form))).toEqual([
      { grant_type: 'refresh_token', refresh_token: 'refresh-1', client_id: 'cloudcord' },
    ]);
    expect(auth.accessToken()).toBe('access-2');
    expect(stored(storage)?.refreshToken).toBe('refresh-2');
    expect(auth.renewAt()).toBe(NOW + 3_600_000 - 60_000);

    await auth.refresh();
    expect(sent.at(-1)?.form.get('refresh_token')).toBe('refresh-2');
  });

  it('takes the tokens another tab rotated instead of presenting a spent refresh token', async () => {
    const { env, sent, storage } = environment(() => tokenAnswer('x', 'y'));
    storage.setItem('cloudcord.session', JSON.stringify({ token: 'access-9', refresh_token: 'refresh-9', expires_at: NOW + 5000 }));
    const auth = new Auth(first, env);
    await expect(auth.refresh()).resolves.toBe(true);
    expect(sent).toEqual([]);
    expect(auth.accessToken()).toBe('access-9');
  });

  it('is over when the provider refuses the refresh token, and forgets it', async () => {
    const { env, storage } = environment(() => json(400, { error: 'invalid_grant', error_description: 'revoked' }));
    storage.setItem('cloudcord.session', JSON.stringify({ token: 'access-1', refresh_token: 'refresh-1', expires_at: NOW }));
    await expect(new Auth(first, env).refresh()).resolves.toBe(false);
    expect(stored(storage)).toBeNull();
  });

  it('keeps the session when the provider cannot be reached', async () => {
    const { env, storage } = environment(() => json(503, { error: 'temporarily_unavailable' }));
    storage.setItem('cloudcord.session', JSON.stringify({ token: 'access-1', refresh_token: 'refresh-1', expires_at: NOW }));
    await expect(new Auth(first, env).refresh()).rejects.toThrow();
    expect(stored(storage)).not.toBeNull();
  });

  it('signs out by revoking the refresh token, forgetting it first', async () => {
    const { env, sent, storage } = environment(() => new Response(null, { status: 200 }));
    storage.setItem('cloudcord.session', JSON.stringify({ token: 'access-1', refresh_token: 'refresh-1', expires_at: NOW }));
    await new Auth(first, env).signOut();
    expect(stored(storage)).toBeNull();
    expect(sent.map((request) => [request.url, Object.fromEntries(request.form)])).toEqual([
      [`${ORIGIN}/api/v10/oauth2/token/revoke`, { token: 'refresh-1', client_id: 'cloudcord' }],
    ]);
  });

  it('drops a stored entry it cannot renew (no refresh token: from before OAuth)', () => {
    const storage = new MemoryStorage();
    storage.setItem('cloudcord.session', JSON.stringify({ token: 'old' }));
    expect(readTokens(storage)).toBeNull();
    expect(storage.getItem('cloudcord.session')).toBeNull();
  });
});

describe('registering', () => {
  it('keeps the new session and renews it before its access token expires', async () => {
    const exp = NOW / 1000 + 3600;
    const access = `${base64url({ alg: 'EdDSA' })}.${base64url({ sub: '1', exp })}.c2ln`;
    const { env, storage } = environment((_form, url) =>
      url === '/api/v10/auth/register' ? json(201, { token: access, refresh_token: 'refresh-1' }) : json(200, {}),
    );
    const tokens = await register(env, 'alice', 'correct horse');
    expect(tokens).toEqual({ token: access, refreshToken: 'refresh-1', expiresAt: exp * 1000 });
    expect(stored(storage)).toEqual(tokens);
  });

  it('reports the field error of a taken name', async () => {
    const { env, storage } = environment(() =>
      json(400, {
        code: 50035,
        message: 'Invalid Form Body',
        errors: { username: { _errors: [{ code: 'USERNAME_ALREADY_TAKEN', message: 'Username is unavailable.' }] } },
      }),
    );
    await expect(register(env, 'alice', 'correct horse')).rejects.toMatchObject({ status: 400 });
    expect(stored(storage)).toBeNull();
  });
});
