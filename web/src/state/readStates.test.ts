import { describe, expect, it } from 'vitest';

import { ALICE, dispatch, ME, message } from './fixtures';
import { behind, mentionsByGuild, nextAck } from './readStates';
import { initialState, reduce, type Action, type State } from './store';

const created = (id: string, channel = '100') => dispatch('MESSAGE_CREATE', message(id, { channel_id: channel, author: ALICE }));
const viewing = (channelId: string | null): Action => ({ type: 'viewing', channelId });

/** READY with the server's read states: #general read up to 4 with 2 mentions
 * after it, #rules read up to its newest message. */
const READ_STATE = {
  entries: [
    { id: '100', last_message_id: '4', mention_count: 2 },
    { id: '103', last_message_id: '9', mention_count: 0 },
  ],
  partial: false,
  version: 3,
};

function run(...actions: Action[]): State {
  const setup = [
    dispatch('READY', { user: ME, guilds: [{ id: '10' }], read_state: READ_STATE }),
    dispatch('GUILD_CREATE', {
      id: '10',
      name: 'Rustaceans',
      channels: [
        { id: '100', type: 0, name: 'general', last_message_id: '7' },
        { id: '103', type: 0, name: 'rules', last_message_id: '9' },
      ],
      members: [{ user: ME }, { user: ALICE }],
    }),
  ];
  return [...setup, ...actions].reduce(reduce, initialState);
}

describe('acks', () => {
  it('acks the newest loaded message of the channel the user looks at', () => {
    expect(nextAck(run(created('5'), created('6'), viewing('100')), new Map())).toEqual({
      channelId: '100',
      messageId: '6',
    });
  });

  it('acks nothing where the user is not looking, or nothing is loaded', () => {
    expect(nextAck(run(created('5')), new Map())).toBeNull();
    expect(nextAck(run(created('5'), viewing('103')), new Map())).toBeNull();
  });

  it('acks once per newer message', () => {
    const state = run(created('5'), created('6'), viewing('100'));
    expect(nextAck(state, new Map([['100', '6']]))).toBeNull();
    expect(nextAck(state, new Map([['100', '5']]))).toEqual({ channelId: '100', messageId: '6' });
  });
});

describe("the server's read states", () => {
  const channel = (state: State, id: string) => {
    const known = state.channels[id];
    if (known === undefined) throw new Error(`no channel ${id}`);
    return known;
  };

  it('show what was unread before this session, with its mentions', () => {
    const state = run();
    expect(behind(state.readStates, channel(state, '100'))).toBe(true);
    expect(behind(state.readStates, channel(state, '103'))).toBe(false);
    expect(mentionsByGuild(state.readStates, state.channels)).toEqual({ '10': 2 });
  });

  it('count live mentions on top, and a fresh READY replaces the counts with the server\'s', () => {
    let state = run(dispatch('MESSAGE_CREATE', message('8', { author: ALICE, mentions: [ME] })));
    expect(mentionsByGuild(state.readStates, state.channels)).toEqual({ '10': 3 });
    // A new message in #rules: behind now, by its last_message_id.
    state = reduce(state, created('10', '103'));
    expect(behind(state.readStates, channel(state, '103'))).toBe(true);
    state = reduce(state, dispatch('READY', { user: ME, guilds: [{ id: '10' }], read_state: READ_STATE }));
    expect(state.readStates['100']?.mentions).toBe(2);
  });

  it('are read by looking at the channel, as far as its newest message', () => {
    const state = run(viewing('100'));
    expect(behind(state.readStates, channel(state, '100'))).toBe(false);
    expect(state.readStates['100']).toEqual({ lastRead: '7', mentions: 0 });
  });

  it('follow MESSAGE_ACK from another device', () => {
    let state = run(created('8'), created('11'));
    expect(state.unread['100']).toEqual(['8', '11']);
    state = reduce(state, dispatch('MESSAGE_ACK', { channel_id: '100', message_id: '8', version: 4, manual: false }));
    expect(state.readStates['100']).toEqual({ lastRead: '8', mentions: 0 });
    expect(state.unread['100']).toEqual(['11']);
    expect(behind(state.readStates, channel(state, '100'))).toBe(true);
    state = reduce(state, dispatch('MESSAGE_ACK', { channel_id: '100', message_id: '11', version: 5, manual: false }));
    expect(state.unread['100']).toBeUndefined();
    expect(behind(state.readStates, channel(state, '100'))).toBe(false);
  });

  it('keep the unread messages as they were when an ack reads nothing new', () => {
    const state = run(created('8'), created('11'));
    const acked = reduce(state, dispatch('MESSAGE_ACK', { channel_id: '100', message_id: '7', version: 4, manual: false }));
    expect(acked.unread).toBe(state.unread);
  });

  it('are read where the user writes', () => {
    const state = run({ type: 'message', message: message('12', { author: ME }) });
    expect(state.readStates['100']).toEqual({ lastRead: '12', mentions: 0 });
  });
});
