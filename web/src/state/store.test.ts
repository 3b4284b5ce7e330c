import { describe, expect, it } from 'vitest';

import type { Message } from '../api/types';
import {
  channelGroups,
  firstTextChannel,
  homeLabel,
  incomingRequests,
  membersByPresence,
  voiceMembers,
} from './selectors';
import { createStore, initialState, newCall, reduce, TYPING_MS, type Action, type State } from './store';

const ME = { id: '1', username: 'me' };
const ALICE = { id: '2', username: 'alice' };

function message(id: string, content = `message ${id}`, extra: Partial<Message> = {}): Message {
  return {
    id,
    channel_id: '100',
    guild_id: '10',
    author: ALICE,
    content,
    timestamp: '2026-11-28T10:00:00.000000+00:00',
    edited_timestamp: null,
    ...extra,
  };
}

function dispatch(event: string, data: unknown, now = 0): Action {
  return { type: 'dispatch', event, data, now };
}

function run(...actions: Action[]): State {
  return actions.reduce(reduce, initialState);
}

const ready = dispatch('READY', { user: ME, guilds: [{ id: '10', unavailable: true }] });
const guildCreate = dispatch('GUILD_CREATE', {
  id: '10',
  name: 'Rustaceans',
  channels: [
    { id: '101', type: 4, name: 'Text Channels', position: 0 },
    { id: '100', type: 0, name: 'general', position: 0, parent_id: '101' },
    { id: '102', type: 2, name: 'General', position: 1, parent_id: '101' },
    { id: '103', type: 0, name: 'rules', position: 0 },
  ],
  members: [{ user: ME }, { user: ALICE }],
  presences: [{ user: { id: '2' }, status: 'idle' }],
});

describe('store', () => {
  it('knows the guilds from READY before their GUILD_CREATE, then their contents', () => {
    const afterReady = run(ready);
    expect(afterReady.ready).toBe(true);
    expect(afterReady.guildIds).toEqual(['10']);
    expect(afterReady.guilds['10']).toBeUndefined();
    const state = reduce(afterReady, guildCreate);
    expect(state.guilds['10']?.name).toBe('Rustaceans');
    expect(state.channels['100']?.guild_id).toBe('10');
    expect(Object.keys(state.members['10'] ?? {})).toEqual(['1', '2']);
    expect(state.presences['2']).toBe('idle');
  });

  it('stores a message once, whichever of REST, live dispatch and replay brings it', () => {
    const state = run(
      ready,
      { type: 'message', message: message('500') },
      dispatch('MESSAGE_CREATE', message('500')),
      dispatch('MESSAGE_CREATE', message('500')),
      { type: 'history', channelId: '100', messages: [message('500'), message('499')], requested: 50 },
    );
    expect(state.messages['100']?.ids).toEqual(['499', '500']);
  });

  it('orders by snowflake, not by arrival or string order', () => {
    const state = run(
      dispatch('MESSAGE_CREATE', message('1000')),
      dispatch('MESSAGE_CREATE', message('999')),
      dispatch('MESSAGE_CREATE', message('10000')),
    );
    expect(state.messages['100']?.ids).toEqual(['999', '1000', '10000']);
  });

  it('keeps an edit over an older copy from a late history page', () => {
    const edited = message('500', 'edited', { edited_timestamp: '2026-11-28T10:05:00.000000+00:00' });
    const state = run(dispatch('MESSAGE_UPDATE', edited), {
      type: 'history',
      channelId: '100',
      messages: [message('500', 'original')],
      requested: 50,
    });
    expect(state.messages['100']?.byId['500']?.content).toBe('edited');
  });

  it('does not bring a deleted message back from a late history page', () => {
    const state = run(dispatch('MESSAGE_CREATE', message('500')), dispatch('MESSAGE_DELETE', { id: '500', channel_id: '100' }), {
      type: 'history',
      channelId: '100',
      messages: [message('500')],
      requested: 50,
    });
    expect(state.messages['100']?.ids).toEqual([]);
  });

  it('knows history is complete after a short page', () => {
    const full = Array.from({ length: 50 }, (_, i) => message(String(1000 - i)));
    const afterFull = run({ type: 'history', channelId: '100', messages: full, requested: 50 });
    expect(afterFull.messages['100']?.hasMore).toBe(true);
    const afterShort = reduce(afterFull, { type: 'history', channelId: '100', messages: [message('900')], requested: 50 });
    expect(afterShort.messages['100']?.hasMore).toBe(false);
    expect(afterShort.messages['100']?.ids[0]).toBe('900');
  });

  it('counts reactions and marks the user own ones', () => {
    const react = (event: string, user: string, name: string) =>
      dispatch(event, { user_id: user, channel_id: '100', message_id: '500', emoji: { id: null, name } });
    const state = run(
      ready,
      dispatch('MESSAGE_CREATE', message('500')),
      react('MESSAGE_REACTION_ADD', '2', '👍'),
      react('MESSAGE_REACTION_ADD', '1', '👍'),
      react('MESSAGE_REACTION_ADD', '1', '🎉'),
      react('MESSAGE_REACTION_REMOVE', '1', '🎉'),
    );
    expect(state.messages['100']?.byId['500']?.reactions).toEqual([{ emoji: { id: null, name: '👍' }, count: 2, me: true }]);
  });

  it('shows typing for ten seconds, or until that user message arrives', () => {
    const typing = (user: string, now: number) =>
      dispatch('TYPING_START', { channel_id: '100', user_id: user, timestamp: 0 }, now);
    let state = run(ready, typing('2', 1000), typing('3', 1000), typing('1', 1000));
    expect(Object.keys(state.typing['100'] ?? {})).toEqual(['2', '3']); // never oneself
    state = reduce(state, dispatch('MESSAGE_CREATE', message('500')));
    expect(Object.keys(state.typing['100'] ?? {})).toEqual(['3']);
    state = reduce(state, { type: 'typing-expired', now: 1000 + TYPING_MS });
    expect(state.typing['100']).toEqual({});
  });

  it('tracks members joining and leaving, and presence changes', () => {
    const state = run(
      ready,
      guildCreate,
      dispatch('GUILD_MEMBER_ADD', { guild_id: '10', user: { id: '3', username: 'bob' } }),
      dispatch('GUILD_MEMBER_REMOVE', { guild_id: '10', user: ALICE }),
      dispatch('PRESENCE_UPDATE', { user: { id: '3' }, status: 'online', guild_id: '10' }),
    );
    const { online, offline } = membersByPresence(state.members['10'], state.presences);
    expect(online.map((row) => row.member.user.username)).toEqual(['bob']);
    expect(offline.map((row) => row.member.user.username)).toEqual(['me']);
  });

  it('forgets a guild the user left, with its channels and members', () => {
    const state = run(ready, guildCreate, dispatch('GUILD_DELETE', { id: '10' }));
    expect(state.guildIds).toEqual([]);
    expect(state.channels).toEqual({});
    expect(state.members['10']).toBeUndefined();
  });

  it('starts over on a fresh READY: history that may have gaps is dropped', () => {
    const state = run(ready, guildCreate, dispatch('MESSAGE_CREATE', message('500')), { type: 'status', status: 'dnd' }, ready);
    expect(state.messages).toEqual({});
    expect(state.guilds).toEqual({});
    expect(state.guildIds).toEqual(['10']);
    expect(state.myStatus).toBe('dnd');
  });

  it('groups channels under their categories for the sidebar', () => {
    const state = run(ready, guildCreate);
    const groups = channelGroups(state.channels, '10');
    expect(groups.map((group) => [group.category?.name ?? null, group.channels.map((c) => c.name)])).toEqual([
      [null, ['rules']],
      ['Text Channels', ['general', 'General']],
    ]);
    expect(firstTextChannel(groups)?.name).toBe('rules');
  });

  it('notifies subscribers only when something changed', () => {
    const store = createStore();
    let calls = 0;
    const unsubscribe = store.subscribe(() => {
      calls += 1;
    });
    store.dispatch(dispatch('MESSAGE_CREATE', message('500')));
    store.dispatch(dispatch('UNKNOWN_EVENT', {}));
    store.dispatch({ type: 'typing-expired', now: 0 });
    unsubscribe();
    store.dispatch(dispatch('MESSAGE_CREATE', message('501')));
    expect(calls).toBe(1);
    expect(store.getState().messages['100']?.ids).toEqual(['500', '501']);
  });
});

describe('voice', () => {
  const inVoice = (user: { id: string }, channel: string | null) => ({
    user_id: user.id,
    channel_id: channel,
    self_mute: false,
    self_deaf: false,
    mute: false,
    deaf: false,
  });
  const withVoice = dispatch('GUILD_CREATE', {
    id: '10',
    name: 'Rustaceans',
    channels: [{ id: '102', type: 2, name: 'General', position: 1 }],
    members: [{ user: ME }, { user: ALICE }],
    voice_states: [inVoice(ALICE, '102')],
  });

  it('lists who is in each voice channel, from GUILD_CREATE and VOICE_STATE_UPDATE', () => {
    let state = run(ready, withVoice);
    expect(voiceMembers(state, '102')).toEqual([{ id: '2', name: 'alice', muted: false }]);
    state = reduce(state, dispatch('VOICE_STATE_UPDATE', { ...inVoice(ME, '102'), guild_id: '10', self_mute: true }));
    expect(voiceMembers(state, '102').map((person) => [person.name, person.muted])).toEqual([
      ['alice', false],
      ['me', true],
    ]);
    state = reduce(state, dispatch('VOICE_STATE_UPDATE', { ...inVoice(ALICE, null), guild_id: '10' }));
    expect(voiceMembers(state, '102').map((person) => person.name)).toEqual(['me']);
  });

  it("keeps the call's status, mute and who speaks, across a fresh READY", () => {
    let state = run(ready, withVoice, {
      type: 'call',
      call: newCall('102'),
    });
    state = reduce(state, { type: 'call-status', status: 'connected', problem: null });
    state = reduce(state, { type: 'speaking', userId: '2', speaking: true });
    state = reduce(state, { type: 'sound', muted: true, deafened: false });
    state = reduce(state, ready);
    expect(state.call).toMatchObject({ channelId: '102', status: 'connected', problem: null, speaking: { '2': true } });
    expect(state.muted).toBe(true);
    state = reduce(state, { type: 'speaking', userId: '2', speaking: false });
    expect(state.call?.speaking).toEqual({});
    expect(reduce(state, { type: 'call', call: null }).call).toBeNull();
  });

  it('keeps the relationships from READY current with RELATIONSHIP_ADD and RELATIONSHIP_REMOVE', () => {
    const BOB = { id: '3', username: 'bob' };
    let state = run(dispatch('READY', { user: ME, guilds: [], relationships: [{ id: '2', type: 3, user: ALICE }] }));
    expect(state.relationships).toEqual([{ id: '2', type: 3, user: ALICE }]);
    // Accepted: the same person, now a friend; a profile the server could not read
    // keeps the one known.
    state = reduce(state, dispatch('RELATIONSHIP_ADD', { id: '2', type: 1, user: null, nickname: null }));
    state = reduce(state, dispatch('RELATIONSHIP_ADD', { id: '3', type: 4, user: BOB, nickname: null }));
    expect(state.relationships).toEqual([
      { id: '2', type: 1, user: ALICE, nickname: null },
      { id: '3', type: 4, user: BOB, nickname: null },
    ]);
    // A removal of another type than the one held now (a block replaced the
    // request) leaves it.
    state = reduce(state, dispatch('RELATIONSHIP_ADD', { id: '3', type: 2, user: BOB, nickname: null }));
    state = reduce(state, dispatch('RELATIONSHIP_REMOVE', { id: '3', type: 4 }));
    state = reduce(state, dispatch('RELATIONSHIP_REMOVE', { id: '2', type: 1 }));
    expect(state.relationships).toEqual([{ id: '3', type: 2, user: BOB, nickname: null }]);
  });

  it('leaves relationships it never loaded alone', () => {
    const state = run(dispatch('RELATIONSHIP_ADD', { id: '2', type: 3, user: ALICE, nickname: null }));
    expect(state.relationships).toBeNull();
  });

  it('counts the friend requests waiting at Home and names them with the unread DMs', () => {
    const relationships = [
      { id: '2', type: 3 as const, user: ALICE },
      { id: '3', type: 4 as const },
      { id: '4', type: 3 as const },
      { id: '5', type: 1 as const },
    ];
    expect(incomingRequests(null)).toBe(0);
    expect(incomingRequests(relationships)).toBe(2);
    expect(homeLabel(0, 0)).toBe('Home');
    expect(homeLabel(0, 1)).toBe('Home, 1 friend request');
    expect(homeLabel(3, 2)).toBe('Home, 3 unread direct messages, 2 friend requests');
  });
});
