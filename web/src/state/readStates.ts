// What the server's read states should hear from this client: the server keeps, per
// channel, the last message the user has read (`POST …/messages/{id}/ack`), and
// counts their unread mentions from it for every client (READY's `read_state`).
// Looking at a channel reads it up to its newest loaded message.

import type { Snowflake } from '../api/types';
import { compareIds } from './snowflake';
import type { State } from './store';

/** A message to acknowledge in its channel. */
export interface Ack {
  channelId: Snowflake;
  messageId: Snowflake;
}

/** The newest loaded message of the channel the user is looking at, when it is
 * newer than what this client acked there (`acked`); otherwise nothing to send. */
export function nextAck(state: State, acked: ReadonlyMap<Snowflake, Snowflake>): Ack | null {
  const channelId = state.viewing;
  if (channelId === null) return null;
  const newest = state.messages[channelId]?.ids.at(-1);
  if (newest === undefined) return null;
  const last = acked.get(channelId);
  if (last !== undefined && compareIds(newest, last) <= 0) return null;
  return { channelId, messageId: newest };
}
