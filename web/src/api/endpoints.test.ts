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

describe('sending files', () => {
  it("sends Discord's multipart body: payload_json naming each files[n] by index", async () => {
    const { api, seen } = serve(json(200, { id: '5' }));
    const photo = new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], 'cat.png', { type: 'image/png' });
    const notes = new File(['hello'], 'notes.txt', { type: 'text/plain' });
    await api.sendMessage('9', 'look', 'nonce-1', undefined, [photo, notes]);
    const request = seen[0];
    expect(request?.headers.get('Content-Type')).toMatch(/^multipart\/form-data; boundary=/);
    const form = await request?.formData();
    expect(JSON.parse(form?.get('payload_json') as string)).toEqual({
      content: 'look',
      nonce: 'nonce-1',
      enforce_nonce: true,
      attachments: [
        { id: 0, filename: 'cat.png' },
        { id: 1, filename: 'notes.txt' },
      ],
    });
    const first = form?.get('files[0]');
    expect(first).toBeInstanceOf(File);
    expect((first as File).name).toBe('cat.png');
    expect(await (form?.get('files[1]') as File).text()).toBe('hello');
  });

  it('sends JSON when there is no file', async () => {
    const { api, seen } = serve(json(200, { id: '5' }));
    await api.sendMessage('9', 'plain', 'nonce-2');
    expect(seen[0]?.headers.get('Content-Type')).toBe('application/json');
  });
});

describe("changing a guild's icon", () => {
  it('patches the guild with image data', async () => {
    const { api, seen } = serve(json(200, { id: '9', name: 'g', icon: 'abc' }));
    await expect(api.modifyGuildIcon('9', 'data:image/png;base64,iVBORw==')).resolves.toHaveProperty('icon', 'abc');
    expect(seen[0]?.method).toBe('PATCH');
    expect(seen[0]?.url).toBe('http://x.test/api/v10/guilds/9');
    expect(await seen[0]?.json()).toEqual({ icon: 'data:image/png;base64,iVBORw==' });
  });

  it('patches it with null to remove the icon', async () => {
    const { api, seen } = serve(json(200, { id: '9', name: 'g', icon: null }));
    await api.modifyGuildIcon('9', null);
    expect(await seen[0]?.json()).toEqual({ icon: null });
  });
});
