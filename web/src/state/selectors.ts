// Derived views of the store, pure so they are tested without React. They build new
// arrays, so components run them in `useMemo` over values selected from the store
// (a selector passed to `useStore` must return something the store keeps).

import {
  ChannelType,
  RelationshipType,
  type Channel,
  type Member,
  type Message,
  type Relationship,
  type Snowflake,
  type Status,
  type User,
} from '../api/types';
import type { InboxItem } from './notifications';
import { compareIds } from './snowflake';
import type { State } from './store';

function byPosition(a: Channel, b: Channel): number {
  return (a.position ?? 0) - (b.position ?? 0) || a.id.localeCompare(b.id);
}

export interface ChannelGroup {
  category: Channel | null;
  channels: Channel[];
}

/** The guild's channels as the sidebar shows them: uncategorized first, then each
 * category with its channels, all by position. */
export function channelGroups(channels: Record<Snowflake, Channel>, guildId: Snowflake): ChannelGroup[] {
  const own = Object.values(channels).filter((channel) => channel.guild_id === guildId);
  const categories = own.filter((channel) => channel.type === ChannelType.GuildCategory).sort(byPosition);
  const inside = (parent: Snowflake | null) =>
    own
      .filter((channel) => channel.type !== ChannelType.GuildCategory && (channel.parent_id ?? null) === parent)
      .sort(byPosition);
  const groups: ChannelGroup[] = [{ category: null, channels: inside(null) }];
  for (const category of categories) groups.push({ category, channels: inside(category.id) });
  return groups.filter((group) => group.category !== null || group.channels.length > 0);
}

/** The first text channel a person lands in when opening the guild. */
export function firstTextChannel(groups: ChannelGroup[]): Channel | undefined {
  return groups.flatMap((group) => group.channels).find((channel) => channel.type === ChannelType.GuildText);
}

export function displayName(user: User, member?: Member): string {
  return member?.nick ?? user.global_name ?? user.username;
}

export interface MemberRow {
  member: Member;
  status: Status;
}

/** The guild's members split by presence, each sorted by name. */
export function membersByPresence(
  members: Record<Snowflake, Member> | undefined,
  presences: State['presences'],
): { online: MemberRow[]; offline: MemberRow[] } {
  const rows = Object.values(members ?? {})
    .map((member) => ({ member, status: presences[member.user.id] ?? ('offline' as const) }))
    .sort((a, b) => displayName(a.member.user, a.member).localeCompare(displayName(b.member.user, b.member)));
  return {
    online: rows.filter((row) => row.status !== 'offline'),
    offline: rows.filter((row) => row.status === 'offline'),
  };
}

/** A message's content as plain text: mentions by name (`<@1>` → `@alice`), roles
 * and channels too, for previews and browser notifications. */
export function plainText(state: State, message: Message): string {
  const named = (whole: string, prefix: string, name: string | null) => (name === null ? whole : `${prefix}${name}`);
  return message.content
    .replace(/<@!?(\d+)>/g, (whole, id: string) => named(whole, '@', mentionName(state, message, 'user', id)))
    .replace(/<@&(\d+)>/g, (whole, id: string) => named(whole, '@', mentionName(state, message, 'role', id)))
    .replace(/<#(\d+)>/g, (whole, id: string) => named(whole, '#', mentionName(state, message, 'channel', id)));
}

/** Where a message was posted, for people: `#general (Rustaceans)`, or `a DM`. */
export function placeOf(state: State, message: Message): string {
  const channel = state.channels[message.channel_id];
  const guild = message.guild_id === undefined ? undefined : state.guilds[message.guild_id];
  if (guild === undefined) return 'a direct message';
  return `#${channel?.name ?? message.channel_id} (${guild.name})`;
}

/** "alice mentioned you in #general (Rustaceans)". */
export function inboxTitle(state: State, item: InboxItem): string {
  const { message } = item;
  const member = message.guild_id === undefined ? undefined : state.members[message.guild_id]?.[message.author.id];
  const who = displayName(message.author, member);
  if (item.kind === 'direct') return `${who} sent you a direct message`;
  const verb = item.kind === 'reply' ? 'replied to you' : 'mentioned you';
  return `${who} ${verb} in ${placeOf(state, message)}`;
}

/** The name a mention in a message of `guildId` shows: a member's display name (or
 * the mentioned user's, from the message), a role's, a channel's; `null` if unknown. */
export function mentionName(
  state: State,
  message: Message,
  target: 'user' | 'role' | 'channel',
  id: Snowflake,
): string | null {
  const guildId = message.guild_id;
  switch (target) {
    case 'user': {
      const member = guildId === undefined ? undefined : state.members[guildId]?.[id];
      if (member !== undefined) return displayName(member.user, member);
      const user = message.mentions?.find((known) => known.id === id);
      return user === undefined ? null : displayName(user);
    }
    case 'role':
      return (guildId === undefined ? undefined : state.roles[guildId]?.[id]?.name) ?? null;
    case 'channel':
      return state.channels[id]?.name ?? null;
  }
}

/** The user's DM channels, newest first (a snowflake grows with time, and the
 * channel's last message id when known). */
export function directChannels(channels: Record<Snowflake, Channel>): Channel[] {
  const recency = (channel: Channel) => channel.last_message_id ?? channel.id;
  return Object.values(channels)
    .filter((channel) => channel.type === ChannelType.DM)
    .sort((a, b) => compareIds(recency(b), recency(a)));
}

/** A DM's name: the other people's names. */
export function directName(channel: Channel): string {
  const names = (channel.recipients ?? []).map((user) => displayName(user));
  return names.length === 0 ? 'Direct message' : names.join(', ');
}

/** How a channel is named in labels: `#general`, or `@alice` for a DM. */
export function channelLabel(channel: Channel): string {
  return channel.type === ChannelType.DM ? `@${directName(channel)}` : `#${channel.name ?? channel.id}`;
}

/** Who is in voice channel `channelId`, by name, and whether they muted themselves. */
export function voiceMembers(
  state: Pick<State, 'channels' | 'members' | 'voiceStates'>,
  channelId: Snowflake,
): { id: Snowflake; name: string; muted: boolean }[] {
  const guildId = state.channels[channelId]?.guild_id;
  if (guildId === undefined) return [];
  return Object.values(state.voiceStates[guildId] ?? {})
    .filter((voice) => voice.channel_id === channelId)
    .map((voice) => {
      const member = state.members[guildId]?.[voice.user_id];
      const name = member === undefined ? voice.user_id : displayName(member.user, member);
      return { id: voice.user_id, name, muted: voice.self_mute || voice.mute };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Friend requests waiting for the user's answer (none before the list is known). */
export function incomingRequests(relationships: Relationship[] | null): number {
  return (relationships ?? []).filter((relationship) => relationship.type === RelationshipType.Incoming).length;
}

/** The Home button's name: what waits there, if anything. */
export function homeLabel(unreadDirect: number, requests: number): string {
  const waiting = [
    unreadDirect > 0 ? `${unreadDirect} unread direct messages` : null,
    requests === 1 ? '1 friend request' : requests > 1 ? `${requests} friend requests` : null,
  ].filter((part) => part !== null);
  return waiting.length === 0 ? 'Home' : `Home, ${waiting.join(', ')}`;
}
