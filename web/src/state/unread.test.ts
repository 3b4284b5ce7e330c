import { describe, expect, it } from 'vitest';

import { ALICE, dispatch, ME, message } from './fixtures';
import { initialState, reduce, type Action, type State } from './store';
import { MAX_UNREAD, unreadMessagesByGuild } from './unread';

const created = (id: string, channel = '100', author = ALICE) =>
  dispatch('MESSAGE_CREATE', message(id, { channel_id: channel, author }));
const viewing = (channelId: string | null): Action => ({ type: 'viewing', channelId });

const setup = [
  dispatch('READY', { user: ME, guilds: [{ id: '10' }] }),
  dispatch('GUILD_CREATE', {
    id: '10',
    name: 'Rustaceans',
    channels: [
      { id: '100', type: 0, name: 'general' },
      { id: '103', type: 0, name: 'rules' },
    ],
    members: [{ user: ME }, { user: ALICE }],
  }),
];

function run(...actions: Action[]): State {
  return [...setup, ...actions].reduce(reduce, initialState);
}

describe('unread messages', () => {
  it('counts live messages from others where the user is not looking, per channel and per guild', () => {
    const state = run(viewing('103'), created('5'), created('6'), created('7', '103'), created('8', '100', ME));
    expect(state.unread).toEqual({ '100': ['5', '6'] });
    expect(unreadMessagesByGuild(state.unread, state.channels)).toEqual({ '10': 2 });
  });

  it('counts a replayed or already-held message once', () => {
    const state = run(created('5'), created('5'), { type: 'message', message: message('6', { author: ME }) }, created('6', '100', ME));
    expect(state.unread['100']).toEqual(['5']);
  });

  it('reads the channel the user opens, and puts the divider before its first unread message', () => {
    const state = run(created('5'), created('6'), viewing('100'));
    expect(state.unread['100']).toBeUndefined();
    expect(state.newMessages).toEqual({ channelId: '100', messageId: '5' });
    // Looking away (another tab) and back keeps the divider; more news while away moves it.
    expect(reduce(reduce(state, viewing(null)), viewing('100')).newMessages).toEqual(state.newMessages);
    const later = [viewing(null), created('9'), viewing('100')].reduce(reduce, state);
    expect(later.newMessages).toEqual({ channelId: '100', messageId: '9' });
    // Another channel without news has no divider.
    expect(reduce(state, viewing('103')).newMessages).toBeNull();
  });

  it('drops the divider once the user writes in that channel', () => {
    const state = run(created('5'), viewing('100'), { type: 'message', message: message('6', { author: ME }) });
    expect(state.newMessages).toBeNull();
  });

  it('forgets deleted messages and channels', () => {
    let state = run(created('5'), created('6'), created('7', '103'), dispatch('MESSAGE_DELETE', { id: '5', channel_id: '100' }));
    expect(state.unread).toEqual({ '100': ['6'], '103': ['7'] });
    state = reduce(state, dispatch('CHANNEL_DELETE', { id: '103', type: 0 }));
    expect(state.unread).toEqual({ '100': ['6'] });
    state = reduce(state, dispatch('GUILD_DELETE', { id: '10' }));
    expect(state.unread).toEqual({});
  });

  it('keeps the counts through a fresh READY, which drops history', () => {
    const state = run(created('5'), setup[0] as Action);
    expect(state.unread['100']).toEqual(['5']);
  });

  it(`keeps at most ${MAX_UNREAD} per channel, the first one included`, () => {
    const many = Array.from({ length: MAX_UNREAD + 5 }, (_, n) => created(String(1000 + n)));
    const state = run(...many);
    expect(state.unread['100']).toHaveLength(MAX_UNREAD);
    expect(state.unread['100']?.[0]).toBe('1000');
  });
});
