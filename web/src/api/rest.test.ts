import { describe, expect, it } from 'vitest';

import { ApiError, Positions, RestClient } from './rest';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

describe('Positions', () => {
  it('keeps the newest seq per aggregate and sends them all back', () => {
    const positions = new Positions();
    expect(positions.header()).toBeNull();
    positions.record('guild:1:7');
    positions.record('guild:1:5'); // an older answer arriving late
    positions.record('user:2:3');
    expect(positions.header()).toBe('guild:1:7, user:2:3');
  });

  it('keeps at most 32, dropping the least recently written', () => {
    const positions = new Positions();
    for (let i = 0; i < 40; i++) positions.record(`guild:${i}:1`);
    const header = positions.header() ?? '';
    expect(header.split(', ')).toHaveLength(32);
    expect(header.startsWith('guild:8:1')).toBe(true);
  });
});

describe('RestClient', () => {
  it('authenticates, and sends write positions back on reads', async () => {
    const seen: Request[] = [];
    const answers = [json(200, { id: '1' }, { 'X-CloudCord-Position': 'guild:9:4' }), json(200, [])];
    const rest = new RestClient({
      token: () => 'abc',
      fetch: (input, init) => {
        seen.push(new Request(new URL(input as string, 'http://x.test'), init));
        return Promise.resolve(answers.shift() ?? json(500, {}));
      },
    });
    await rest.request('POST', '/guilds', { name: 'g' });
    await rest.request('GET', '/users/@me/guilds');
    expect(seen[0]?.headers.get('Authorization')).toBe('Bearer abc');
    expect(seen[0]?.headers.get('X-CloudCord-Position')).toBeNull();
    expect(seen[1]?.headers.get('X-CloudCord-Position')).toBe('guild:9:4');
  });

  it("turns Discord's error shape into an ApiError naming the first field error", async () => {
    const rest = new RestClient({
      token: () => null,
      fetch: () =>
        Promise.resolve(
          json(400, {
            code: 50035,
            message: 'Invalid Form Body',
            errors: { name: { _errors: [{ code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 2 and 100 in length.' }] } },
          }),
        ),
    });
    const error = await rest.request('POST', '/guilds', { name: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(50035);
    expect((error as ApiError).fieldMessage()).toBe('Must be between 2 and 100 in length.');
  });

  it('waits out a 429 and retries', async () => {
    const slept: number[] = [];
    const answers = [json(429, { message: 'You are being rate limited.', retry_after: 0.25, global: false }), json(204, undefined)];
    const rest = new RestClient({
      token: () => 't',
      fetch: () => Promise.resolve(answers.shift() ?? json(500, {})),
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
    });
    await expect(rest.request('POST', '/channels/1/typing')).resolves.toBeUndefined();
    expect(slept).toEqual([250]);
  });

  it('reports a refused token', async () => {
    let signedOut = false;
    const rest = new RestClient({
      token: () => 'old',
      fetch: () => Promise.resolve(json(401, { message: '401: Unauthorized', code: 0 })),
      onUnauthorized: () => {
        signedOut = true;
      },
    });
    await expect(rest.request('GET', '/users/@me')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toBe(true);
  });

  it('renews an expired token once and retries with the new one', async () => {
    let token = 'old';
    const sent: (string | null)[] = [];
    const rest = new RestClient({
      token: () => token,
      fetch: (_input, init) => {
        const auth = new Headers(init?.headers).get('Authorization');
        sent.push(auth);
        return Promise.resolve(auth === 'Bearer new' ? json(200, { id: '1' }) : json(401, { message: '401: Unauthorized', code: 0 }));
      },
      refresh: () => {
        token = 'new';
        return Promise.resolve(true);
      },
      onUnauthorized: () => {
        throw new Error('must not sign out');
      },
    });
    await expect(rest.request('GET', '/users/@me')).resolves.toEqual({ id: '1' });
    expect(sent).toEqual(['Bearer old', 'Bearer new']);
  });

  it('signs out when the session cannot be renewed, but not when the provider is unreachable', async () => {
    let signedOut = 0;
    const refused = () => Promise.resolve(json(401, { message: '401: Unauthorized', code: 0 }));
    const over = new RestClient({
      token: () => 'old',
      fetch: refused,
      refresh: () => Promise.resolve(false),
      onUnauthorized: () => {
        signedOut += 1;
      },
    });
    await expect(over.request('GET', '/users/@me')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toBe(1);

    const offline = new RestClient({
      token: () => 'old',
      fetch: refused,
      refresh: () => Promise.reject(new TypeError('Failed to fetch')),
      onUnauthorized: () => {
        signedOut += 1;
      },
    });
    await expect(offline.request('GET', '/users/@me')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toBe(1);
  });
});
