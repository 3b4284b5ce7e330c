import { describe, expect, it } from 'vitest';

import { endpoints } from './endpoints';
import { ApiError, describeError, RestClient } from './rest';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** The endpoints over a server that answers `answer` and records the request. */
function serve(answer: Response) {
  const seen: Request[] = [];
  const api = endpoints(
    new RestClient({
      token: () => 'user-token',
      fetch: (input, init) => {
        seen.push(new Request(new URL(input as string, 'http://x.test'), init));
        return Promise.resolve(answer);
      },
    }),
  );
  return { api, seen };
}

describe('adding a bot', () => {
  it("posts Discord's bot authorization with the user's token", async () => {
    const { api, seen } = serve(json(200, { location: 'http://x.test/channels/9' }));
    await expect(api.authorizeBot('42', '9', '2048')).resolves.toEqual({ location: 'http://x.test/channels/9' });
    const request = seen[0];
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('http://x.test/api/v10/oauth2/authorize?client_id=42&scope=bot');
    expect(request?.headers.get('Authorization')).toBe('Bearer user-token');
    expect(await request?.json()).toEqual({ guild_id: '9', permissions: '2048', authorize: true });
  });

  it("shows the server's reason when it refuses", async () => {
    const { api } = serve(json(403, { code: 50013, message: 'Missing Permissions' }));
    const error = await api.authorizeBot('42', '9', '8').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(50013);
    expect(describeError(error)).toBe('Missing Permissions');
  });
});

describe('acking a message', () => {
  it("posts Discord's ack with a null token", async () => {
    const { api, seen } = serve(json(200, { token: null }));
    await expect(api.ack('100', '5')).resolves.toEqual({ token: null });
    const request = seen[0];
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('http://x.test/api/v10/channels/100/messages/5/ack');
    expect(await request?.json()).toEqual({ token: null });
  });
});
