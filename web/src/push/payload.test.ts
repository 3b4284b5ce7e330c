import { describe, expect, it } from 'vitest';

import { notificationFor, parsePushPayload } from './payload';
import { base64UrlBytes } from './subscription';

const PUSH = {
  type: 'message',
  message_id: '300',
  channel_id: '200',
  guild_id: '100',
  author: { id: '7', username: 'kim', global_name: 'Kim' },
  title: 'Kim in #general',
  body: 'hey @you',
  url: '/channels/100/200',
  reason: 'mention',
};

describe('push payloads', () => {
  it('become a notification tagged with the message, opening its channel', () => {
    const payload = parsePushPayload(PUSH);
    expect(payload).not.toBeNull();
    if (payload === null) return;
    expect(notificationFor(payload)).toEqual({
      title: 'Kim in #general',
      options: { body: 'hey @you', tag: '300', data: { url: '/channels/100/200' } },
    });
  });

  it('of a DM have no guild', () => {
    expect(parsePushPayload({ ...PUSH, guild_id: null, url: '/channels/@me/200', reason: 'dm' })?.guildId).toBeNull();
  });

  it('that this client cannot read show nothing', () => {
    for (const unreadable of [
      null,
      'text',
      { ...PUSH, type: 'call' },
      { ...PUSH, reason: 'gossip' },
      { ...PUSH, message_id: 300 },
      { ...PUSH, title: undefined },
      // A click never leaves the client's own pages.
      { ...PUSH, url: 'https://elsewhere.example/channels/1/2' },
      { ...PUSH, url: '//elsewhere.example/channels' },
    ]) {
      expect(parsePushPayload(unreadable), JSON.stringify(unreadable)).toBeNull();
    }
  });
});

describe('VAPID keys', () => {
  it('decode from unpadded base64url', () => {
    // 0xfb 0xff 0xfe uses both of base64url's own characters ('-' and '_').
    expect(Array.from(base64UrlBytes('-__-'))).toEqual([0xfb, 0xff, 0xfe]);
    expect(Array.from(base64UrlBytes('AQ'))).toEqual([1]);
  });
});
