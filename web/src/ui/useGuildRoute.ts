// What the URL's guild and channel mean for this user: a guild they are in (and the
// channel to show), one still loading, or one they may not see — in which case
// nothing of it is fetched or shown.

import { useMemo } from 'react';

import { ChannelType, type Channel, type Guild } from '../api/types';
import type { Route } from '../router';
import { useStore } from '../state/hooks';
import { channelGroups, firstTextChannel } from '../state/selectors';

export type GuildView =
  | { kind: 'home' }
  | { kind: 'loading' }
  | { kind: 'forbidden' }
  | { kind: 'guild'; guild: Guild; channel: Channel | undefined }
  /** A direct message; `undefined` when the user has no such DM. */
  | { kind: 'dm'; channel: Channel | undefined };

export function useGuildRoute(route: Route): GuildView {
  const guildId = route.name === 'guild' ? route.guildId : null;
  const channelId = route.name === 'guild' ? route.channelId : null;
  const member = useStore((state) => guildId !== null && state.guildIds.includes(guildId));
  const guild = useStore((state) => (guildId === null ? undefined : state.guilds[guildId]));
  const channels = useStore((state) => state.channels);
  const directId = route.name === 'dm' ? route.channelId : null;
  return useMemo((): GuildView => {
    if (directId !== null) {
      const channel = channels[directId];
      return { kind: 'dm', channel: channel?.type === ChannelType.DM ? channel : undefined };
    }
    if (guildId === null) return { kind: 'home' };
    if (!member) return { kind: 'forbidden' };
    if (guild === undefined) return { kind: 'loading' };
    if (channelId === null) return { kind: 'guild', guild, channel: firstTextChannel(channelGroups(channels, guild.id)) };
    const channel = channels[channelId];
    const visible = channel?.guild_id === guild.id && channel.type === ChannelType.GuildText;
    return { kind: 'guild', guild, channel: visible ? channel : undefined };
  }, [directId, guildId, channelId, member, guild, channels]);
}
