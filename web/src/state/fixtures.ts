// What the store's tests build their states from: two people, a message by Alice in
// guild 10's channel 100, and a gateway dispatch. Imported by tests only.

import type { Message } from '../api/types';
import type { Action } from './store';

export const ME = { id: '1', username: 'me' };
export const ALICE = { id: '2', username: 'alice' };

export function message(id: string, extra: Partial<Message> = {}): Message {
  return {
    id,
    channel_id: '100',
    guild_id: '10',
    author: ALICE,
    content: `message ${id}`,
    timestamp: '2026-11-28T10:00:00.000000+00:00',
    edited_timestamp: null,
    ...extra,
  };
}

export const dispatch = (event: string, data: unknown): Action => ({ type: 'dispatch', event, data, now: 0 });
