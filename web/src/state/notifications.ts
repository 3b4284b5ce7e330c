// The notification area's state: messages that mention the user or reply to them
// (and direct messages to them),
// newest first, each read or not. Pure functions over the store's state, applied by
// the reducer when a message arrives live (history pages notify nobody: what they
// hold happened while the user was away and is not news), when one is edited or
// deleted, and when the user looks at a channel.

import type { Message, Snowflake, User } from '../api/types';

/** `direct`: a direct message, which is always for the user. */
export type NotificationKind = 'mention' | 'reply' | 'direct';

export interface InboxItem {
  kind: NotificationKind;
  /** The message as it arrived (or was last edited). */
  message: Message;
  read: boolean;
}

/** The area keeps this many; older ones fall off the end. */
export const MAX_NOTIFICATIONS = 100;

/** Whether `message` is news for `me`: a reply to one of their messages, or a
 * mention of them, of one of their roles, or of everyone. The server has already
 * filtered mentions (allowed_mentions, permissions), so its lists are the truth. */
export function notificationKind(
  message: Message,
  me: User | null,
  myRoles: readonly Snowflake[],
  repliedTo: Message | undefined,
  direct: boolean,
): NotificationKind | null {
  if (me === null || message.author.id === me.id) return null;
  if (direct) return 'direct';
  const mentioned = message.mentions?.some((user) => user.id === me.id) ?? false;
  // A reply mentions its author unless the sender chose not to ping; it is a reply
  // to the user either way when the replied-to message is known to be theirs.
  if (message.message_reference !== undefined && (repliedTo?.author.id === me.id || mentioned)) return 'reply';
  if (mentioned || message.mention_everyone === true) return 'mention';
  if (message.mention_roles?.some((role) => myRoles.includes(role)) === true) return 'mention';
  return null;
}

/** Adds a notification for a message that just arrived; already-known ids (a
 * resumed session's replay) are not added twice. Read at once when the user is
 * looking at its channel. */
export function addNotification(
  list: InboxItem[],
  kind: NotificationKind,
  message: Message,
  viewing: Snowflake | null,
): InboxItem[] {
  if (list.some((known) => known.message.id === message.id)) return list;
  return [{ kind, message, read: message.channel_id === viewing }, ...list].slice(0, MAX_NOTIFICATIONS);
}

/** The notification of an edited message shows the edit. */
export function updateNotification(list: InboxItem[], message: Message): InboxItem[] {
  if (!list.some((known) => known.message.id === message.id)) return list;
  return list.map((known) => (known.message.id === message.id ? { ...known, message: { ...known.message, ...message } } : known));
}

/** A deleted message is no news any more. */
export function removeNotification(list: InboxItem[], messageId: Snowflake): InboxItem[] {
  if (!list.some((known) => known.message.id === messageId)) return list;
  return list.filter((known) => known.message.id !== messageId);
}

/** Marks read the notifications of `channelId` (every one when `null`). */
export function markRead(list: InboxItem[], channelId: Snowflake | null): InboxItem[] {
  const unread = (known: InboxItem) => !known.read && (channelId === null || known.message.channel_id === channelId);
  if (!list.some(unread)) return list;
  return list.map((known) => (unread(known) ? { ...known, read: true } : known));
}

/** How many notifications are unread. */
export function unreadCount(list: InboxItem[]): number {
  return list.reduce((count, known) => count + (known.read ? 0 : 1), 0);
}
