// Derived views of the store, pure so they are tested without React. They build new
// arrays, so components run them in `useMemo` over values selected from the store
// (a selector passed to `useStore` must return something the store keeps).

import { ChannelType, type Channel, type Member, type Snowflake, type Status, type User } from '../api/types';
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
