import { describe, expect, it } from 'vitest';

import { ALICE, dispatch, ME, message } from './fixtures';
import { nextAck } from './readStates';
import { initialState, reduce, type Action, type State } from './store';

const created = (id: string, channel = '100') => dispatch('MESSAGE_CREATE', message(id, { channel_id: channel, author: ALICE }));
const viewing = (channelId: string | null): Action => ({ type: 'viewing', channelId });

function run(...actions: Action[]): State {
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
