// Unread messages per channel, counted from the gateway: a message that arrives live,
// from someone else, in a channel the user is not looking at, is unread until they
// look there. Then the first of them is where the "new messages" divider goes, while
// the channel stays open. These badges count from the start of the session (history
// pages are not news: see notifications.ts); the server's read states, which this
// client acks as the user reads (readStates.ts), count unread mentions for READY.

import type { Channel, Message, Snowflake } from '../api/types';

/** Per channel, the unread message ids, oldest first. A badge shows "99+" past 99,
 * so at most this many are kept: memory stays bounded, the first id stays right. */
export const MAX_UNREAD = 100;

export type UnreadMessages = Record<Snowflake, Snowflake[]>;

/** Where the "new messages" divider goes: before `messageId` in `channelId`. */
export interface NewMessagesDivider {
  channelId: Snowflake;
  messageId: Snowflake;
}

/** Counts a message that just arrived (the caller decides it is news). */
export function addUnread(unread: UnreadMessages, message: Message): UnreadMessages {
  const ids = unread[message.channel_id] ?? [];
  if (ids.length >= MAX_UNREAD || ids.includes(message.id)) return unread;
  return { ...unread, [message.channel_id]: [...ids, message.id] };
}

/** A deleted message is not unread any more. */
export function removeUnread(unread: UnreadMessages, channelId: Snowflake, messageId: Snowflake): UnreadMessages {
  const ids = unread[channelId];
  if (ids?.includes(messageId) !== true) return unread;
  const rest = ids.filter((id) => id !== messageId);
  if (rest.length > 0) return { ...unread, [channelId]: rest };
  return withoutChannels(unread, (id) => id === channelId);
}

/** `unread` without the channels `drop` picks. */
export function withoutChannels(unread: UnreadMessages, drop: (channelId: Snowflake) => boolean): UnreadMessages {
  return Object.fromEntries(Object.entries(unread).filter(([channelId]) => !drop(channelId)));
}

/** The user looks at `channelId`: its messages are read, and the divider goes before
 * the first of them; with none unread, a divider already in that channel stays. */
export function readChannel(
  unread: UnreadMessages,
  divider: NewMessagesDivider | null,
  channelId: Snowflake,
): { unread: UnreadMessages; divider: NewMessagesDivider | null } {
  const first = unread[channelId]?.[0];
  if (first === undefined) return { unread, divider: divider?.channelId === channelId ? divider : null };
  return { unread: withoutChannels(unread, (id) => id === channelId), divider: { channelId, messageId: first } };
}

/** Unread messages per guild, summed over its channels. */
export function unreadMessagesByGuild(unread: UnreadMessages, channels: Record<Snowflake, Channel>): Record<Snowflake, number> {
  const counts: Record<Snowflake, number> = {};
  for (const [channelId, ids] of Object.entries(unread)) {
    const guildId = channels[channelId]?.guild_id;
    if (guildId !== undefined) counts[guildId] = (counts[guildId] ?? 0) + ids.length;
  }
  return counts;
}
