// The server's read states, as this client keeps them. The server keeps, per
// channel, the last message the user has read (`POST …/messages/{id}/ack`) and counts
// their unread mentions from it for every client: READY's `read_state` seeds them,
// a channel whose `last_message_id` is newer than what was read is unread, and
// MESSAGE_ACK (the user read on another device) moves them on. Between READYs the
// client counts live mentions itself; a fresh READY replaces its counts with the
// server's, so none is counted twice. Looking at a channel reads it up to its
// newest loaded message, which is what this client acks.

import type { Channel, Snowflake } from '../api/types';
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

/** What the user has read of one channel, and their mentions after it. */
export interface ReadState {
  /** The last message read ("0": none). */
  lastRead: Snowflake;
  mentions: number;
}

export type ReadStates = Record<Snowflake, ReadState>;

/** READY's `read_state` (Discord's shape: `{ entries: [{ id, last_message_id,
 * mention_count }] }`); anything else counts as none. */
export function readStatesFromReady(readState: unknown): ReadStates {
  const entries = (readState as { entries?: unknown } | null | undefined)?.entries;
  if (!Array.isArray(entries)) return {};
  const states: ReadStates = {};
  for (const entry of entries as { id?: unknown; last_message_id?: unknown; mention_count?: unknown }[]) {
    if (typeof entry.id !== 'string') continue;
    states[entry.id] = {
      lastRead: typeof entry.last_message_id === 'string' ? entry.last_message_id : '0',
      mentions: typeof entry.mention_count === 'number' ? entry.mention_count : 0,
    };
  }
  return states;
}

/** One more unread mention in `channelId`. */
export function addMention(states: ReadStates, channelId: Snowflake): ReadStates {
  const known = states[channelId] ?? { lastRead: '0', mentions: 0 };
  return { ...states, [channelId]: { ...known, mentions: known.mentions + 1 } };
}

/** `channelId` is read up to `messageId` (or further, if it was already): its
 * mentions are read too. */
export function readUpTo(states: ReadStates, channelId: Snowflake, messageId: Snowflake | undefined): ReadStates {
  const known = states[channelId];
  const lastRead = [known?.lastRead ?? '0', messageId ?? '0'].reduce((a, b) => (compareIds(a, b) >= 0 ? a : b));
  if (known?.lastRead === lastRead && known.mentions === 0) return states;
  return { ...states, [channelId]: { lastRead, mentions: 0 } };
}

/** Whether `channel` has a message newer than what the user read (as far as the
 * server said, or this client saw); a channel never read counts as read. */
export function behind(states: ReadStates, channel: Channel): boolean {
  const known = states[channel.id];
  const last = channel.last_message_id;
  return known !== undefined && known.lastRead !== '0' && last != null && compareIds(last, known.lastRead) > 0;
}

/** Unread mentions per guild, and per DM under `@me`. */
export function mentionsByGuild(states: ReadStates, channels: Record<Snowflake, Channel>): Record<Snowflake, number> {
  const counts: Record<Snowflake, number> = {};
  for (const [channelId, { mentions }] of Object.entries(states)) {
    const channel = channels[channelId];
    if (mentions === 0 || channel === undefined) continue;
    const key = channel.guild_id ?? '@me';
    counts[key] = (counts[key] ?? 0) + mentions;
  }
  return counts;
}
