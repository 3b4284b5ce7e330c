import { describe, expect, it } from 'vitest';

import type { Message } from '../api/types';
import { dispatch, message } from './fixtures';
import { initialState, reduce, type Action, type State } from './store';

const history: Action = { type: 'history', channelId: '100', messages: [message('6'), message('5', { pinned: true })], requested: 50 };
const pins = (...messages: Message[]): Action => ({ type: 'pins', channelId: '100', messages });
const flags = (state: State) =>
  Object.fromEntries(Object.values(state.messages['100']?.byId ?? {}).map((known) => [known.id, known.pinned ?? false]));

function run(...actions: Action[]): State {
  return actions.reduce(reduce, initialState);
}

describe('pins', () => {
  it('keeps the loaded pins, and the loaded messages’ flags to match', () => {
    // Someone else unpinned 5 and pinned 6 and an older message, 1.
    const state = run(history, pins(message('6'), message('1')));
    expect(state.pins['100']?.map((known) => known.id)).toEqual(['6', '1']);
    expect(flags(state)).toEqual({ '5': false, '6': true });
    // An old pinned message does not join the history (it would hide a gap).
    expect(state.messages['100']?.ids).toEqual(['5', '6']);
  });

  it('shows what this client pins and unpins at once, in the flags and the list', () => {
    const pinned = run(history, pins(message('5')), { type: 'pinned', channelId: '100', messageId: '6', pinned: true });
    expect(flags(pinned)).toEqual({ '5': true, '6': true });
    expect(pinned.pins['100']?.map((known) => known.id)).toEqual(['6', '5']);
    const unpinned = reduce(pinned, { type: 'pinned', channelId: '100', messageId: '5', pinned: false });
    expect(flags(unpinned)).toEqual({ '5': false, '6': true });
    expect(unpinned.pins['100']?.map((known) => known.id)).toEqual(['6']);
  });

  it('shows edits of pinned messages and forgets deleted ones', () => {
    const edit = message('5', { content: 'edited', edited_timestamp: '2026-11-28T11:00:00.000000+00:00' });
    let state = run(history, pins(message('5'), message('1')), dispatch('MESSAGE_UPDATE', edit));
    expect(state.pins['100']?.[0]?.content).toBe('edited');
    state = reduce(state, dispatch('MESSAGE_DELETE', { id: '1', channel_id: '100' }));
    expect(state.pins['100']?.map((known) => known.id)).toEqual(['5']);
  });
});
