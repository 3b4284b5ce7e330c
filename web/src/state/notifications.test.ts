import { describe, expect, it } from 'vitest';

import type { Message } from '../api/types';
import { ALICE, dispatch, ME, message } from './fixtures';
import { MAX_NOTIFICATIONS, unreadCount } from './notifications';
import { mentionsByGuild } from './readStates';
import { directChannels, directName, inboxTitle, plainText } from './selectors';
import { initialState, reduce, type Action, type State } from './store';

const created = (data: Message) => dispatch('MESSAGE_CREATE', data);

const ready = dispatch('READY', { user: ME, guilds: [{ id: '10' }] });
const guild = dispatch('GUILD_CREATE', {
  id: '10',
  name: 'Rustaceans',
  channels: [
    { id: '100', type: 0, name: 'general' },
    { id: '200', type: 0, name: 'random' },
  ],
  members: [{ user: ME, roles: ['77'] }, { user: ALICE, roles: [] }],
});

function run(...actions: Action[]): State {
  return actions.reduce(reduce, initialState);
}

describe('notifications', () => {
  it('notes mentions of the user, their roles and everyone, but not others or their own', () => {
    const state = run(
      ready,
      guild,
      created(message('1', { mentions: [ME] })),
      created(message('2', { mention_roles: ['77'] })),
      created(message('3', { mention_everyone: true })),
      created(message('4', { mentions: [ALICE], mention_roles: ['88'] })),
      created(message('5', { author: ME, mentions: [ME] })),
      created(message('6')),
    );
    expect(state.notifications.map((known) => [known.message.id, known.kind])).toEqual([
      ['3', 'mention'],
      ['2', 'mention'],
      ['1', 'mention'],
    ]);
    expect(unreadCount(state.notifications)).toBe(3);
  });

  it('notes replies to the user, pinged or not', () => {
    const mine = message('1', { author: ME });
    const state = run(
      ready,
      guild,
      { type: 'message', message: mine },
      // Replying without pinging: known to be a reply to the user from the cache.
      created(message('2', { message_reference: { message_id: '1' } })),
      // Replying to a message not loaded here: the server's mention says whose.
      created(message('3', { message_reference: { message_id: '999' }, mentions: [ME] })),
      created(message('4', { message_reference: { message_id: '999' } })),
    );
    expect(state.notifications.map((known) => [known.message.id, known.kind])).toEqual([
      ['3', 'reply'],
      ['2', 'reply'],
    ]);
  });

  it('notes a message once when a resumed session replays it, and not from history', () => {
    const ping = message('1', { mentions: [ME] });
    const state = run(
      ready,
      guild,
      created(ping),
      created(ping),
      { type: 'history', channelId: '100', messages: [message('0', { mentions: [ME] })], requested: 50 },
    );
    expect(state.notifications).toHaveLength(1);
  });

  it('is read at once in the channel the user is looking at, and when they open its channel', () => {
    let state = run(
      ready,
      guild,
      { type: 'viewing', channelId: '100' },
      created(message('1', { mentions: [ME] })),
      created(message('2', { channel_id: '200', mentions: [ME] })),
    );
    expect(state.notifications.map((known) => known.read)).toEqual([false, true]);
    expect(mentionsByGuild(state.readStates, state.channels)).toEqual({ '10': 1 });
    state = reduce(state, { type: 'viewing', channelId: '200' });
    expect(unreadCount(state.notifications)).toBe(0);
  });

  it('marks all read, shows edits, forgets deleted messages and survives a fresh READY', () => {
    let state = run(ready, guild, created(message('1', { mentions: [ME] })), created(message('2', { mentions: [ME] })));
    state = reduce(state, dispatch('MESSAGE_UPDATE', { ...message('1', { mentions: [ME] }), content: 'edited', edited_timestamp: '2026-11-28T10:01:00Z' }));
    expect(state.notifications.find((known) => known.message.id === '1')?.message.content).toBe('edited');
    state = reduce(state, dispatch('MESSAGE_DELETE', { id: '2', channel_id: '100' }));
    expect(state.notifications.map((known) => known.message.id)).toEqual(['1']);
    // A deleted message replayed later does not come back.
    state = reduce(state, created(message('2', { mentions: [ME] })));
    expect(state.notifications).toHaveLength(1);
    state = reduce(state, ready);
    expect(state.notifications).toHaveLength(1);
    state = reduce(state, { type: 'read-all' });
    expect(unreadCount(state.notifications)).toBe(0);
  });

  it('keeps the newest ones, and DMs count under @me', () => {
    const inDm = (id: string): Message => {
      const known = message(id, { mentions: [ME], channel_id: '300' });
      delete known.guild_id;
      return known;
    };
    const actions = Array.from({ length: MAX_NOTIFICATIONS + 5 }, (_, n) => created(inDm(String(1000 + n))));
    const state = run(ready, guild, ...actions);
    expect(state.notifications).toHaveLength(MAX_NOTIFICATIONS);
    expect(state.notifications[0]?.message.id).toBe(String(1000 + MAX_NOTIFICATIONS + 4));
    // The channel's count goes on past what the list keeps.
    expect(state.readStates['300']?.mentions).toBe(MAX_NOTIFICATIONS + 5);
  });

  it('titles and previews a notification in words, mentions by name', () => {
    const state = run(ready, guild, created(message('1', { content: 'hey <@1>, see <#200>', mentions: [ME] })));
    const [item] = state.notifications;
    if (item === undefined) throw new Error('no notification');
    expect(inboxTitle(state, item)).toBe('alice mentioned you in #general (Rustaceans)');
    expect(plainText(state, item.message)).toBe('hey @me, see #random');
  });

  it('keeps DM channels from READY and notes direct messages from others', () => {
    const dmReady = dispatch('READY', {
      user: ME,
      guilds: [],
      private_channels: [{ id: '500', type: 1, recipients: [ALICE] }],
    });
    const dm = (id: string, author = ALICE): Message => {
      const known = message(id, { channel_id: '500', author });
      delete known.guild_id;
      return known;
    };
    const before = run(dmReady, created(dm('1')), created(dm('2', ME)), { type: 'voice', channelId: '9' });
    expect(mentionsByGuild(before.readStates, before.channels)).toEqual({ '@me': 1 });
    const state = reduce(before, dmReady);
    expect(directChannels(state.channels).map((channel) => directName(channel))).toEqual(['alice']);
    expect(state.notifications.map((known) => [known.message.id, known.kind])).toEqual([['1', 'direct']]);
    const [item] = state.notifications;
    if (item === undefined) throw new Error('no notification');
    expect(inboxTitle(state, item)).toBe('alice sent you a direct message');
    // The voice panel's choice survives a fresh READY too.
    expect(state.voiceChannel).toBe('9');
  });
});
