import { useMemo, useState } from 'react';

import { ChannelType, type Channel, type Guild } from '../api/types';
import { navigate } from '../router';
import { usePermissions, useSession, useStore } from '../state/hooks';
import { has, Permission } from '../state/permissions';
import { behind } from '../state/readStates';
import { channelGroups, firstTextChannel, voiceMembers } from '../state/selectors';
import { Badge } from './Badge';
import { InviteDialog } from './ServerDialogs';
import { CreateChannelDialog, ServerSettingsDialog } from './ServerSettings';
import { Icon } from './Icon';

export function ChannelSidebar({
  guild,
  activeChannelId,
  onNavigate,
}: {
  guild: Guild;
  activeChannelId: string | null;
  onNavigate: () => void;
}) {
  const channels = useStore((state) => state.channels);
  const groups = useMemo(() => channelGroups(channels, guild.id), [channels, guild.id]);
  const [dialog, setDialog] = useState<'invite' | 'channel' | 'settings' | null>(null);
  const inviteChannel = activeChannelId ?? firstTextChannel(groups)?.id;
  const permissions = usePermissions(guild.id);
  const canCreateChannels = has(permissions, Permission.ManageChannels);
  const canManage = [Permission.ManageRoles, Permission.KickMembers, Permission.BanMembers, Permission.ManageGuild].some(
    (bit) => has(permissions, bit),
  );
  const close = () => { setDialog(null); };

  return (
    <nav className="channels" aria-label={`${guild.name} channels`}>
      <header className="sidebar-header">
        <h2 title={guild.name}>{guild.name}</h2>
        {inviteChannel !== undefined && (
          <button type="button" className="icon-button" aria-label="Invite people" title="Invite people" onClick={() => { setDialog('invite'); }}>
            <Icon name="invite" />
          </button>
        )}
        {canCreateChannels && (
          <button type="button" className="icon-button" aria-label="Create a channel" title="Create a channel" onClick={() => { setDialog('channel'); }}>
            <Icon name="plus" />
          </button>
        )}
        {canManage && (
          <button type="button" className="icon-button" aria-label="Server settings" title="Server settings" onClick={() => { setDialog('settings'); }}>
            <Icon name="settings" />
          </button>
        )}
      </header>
      <div className="channel-scroll">
        {groups.map((group) => (
          <section key={group.category?.id ?? 'none'} className="channel-group" aria-label={group.category?.name ?? 'Channels'}>
            {group.category !== null && <h3 className="category">{group.category.name}</h3>}
            <ul role="list">
              {group.channels.map((channel) => (
                <li key={channel.id}>
                  <ChannelLink channel={channel} guildId={guild.id} active={channel.id === activeChannelId} onNavigate={onNavigate} />
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
      {dialog === 'invite' && inviteChannel !== undefined && <InviteDialog channelId={inviteChannel} onClose={close} />}
      {dialog === 'channel' && <CreateChannelDialog guild={guild} onClose={close} />}
      {dialog === 'settings' && <ServerSettingsDialog guild={guild} onClose={close} />}
    </nav>
  );
}

function ChannelLink({
  channel,
  guildId,
  active,
  onNavigate,
}: {
  channel: Channel;
  guildId: string;
  active: boolean;
  onNavigate: () => void;
}) {
  const unread = useStore((state) => state.unread[channel.id]?.length ?? 0);
  const mentions = useStore((state) => state.readStates[channel.id]?.mentions ?? 0);
  // Unread from before this session: the server's read state is behind the channel.
  const isBehind = useStore((state) => behind(state.readStates, channel));
  const name = channel.name ?? channel.id;
  if (channel.type === ChannelType.GuildVoice) return <VoiceChannelItem channel={channel} onNavigate={onNavigate} />;
  return (
    <a
      href={`/channels/${guildId}/${channel.id}`}
      className={`channel${active ? ' active' : ''}${unread > 0 || isBehind ? ' unread' : ''}`}
      aria-current={active ? 'page' : undefined}
      aria-label={channelLabel(name, unread, mentions, isBehind)}
      onClick={(event) => {
        event.preventDefault();
        navigate({ name: 'guild', guildId, channelId: channel.id });
        onNavigate();
      }}
    >
      <span className="channel-icon">
        <Icon name="hash" size={18} />
      </span>
      <span className="channel-name">{name}</span>
      {mentions > 0 ? <Badge count={mentions} inline /> : <Badge count={unread} inline quiet />}
    </a>
  );
}

/** "general, 2 unread mentions, 5 unread messages"; "general, unread" when only the
 * server's read state says so (it does not count the messages). */
function channelLabel(name: string, unread: number, mentions: number, isBehind: boolean): string {
  const parts = [name];
  if (mentions > 0) parts.push(`${mentions} unread mentions`);
  if (unread > 0) parts.push(`${unread} unread messages`);
  else if (isBehind) parts.push('unread');
  return parts.join(', ');
}

/** A voice channel: choosing it joins it; who is in it is listed under it. */
function VoiceChannelItem({ channel, onNavigate }: { channel: Channel; onNavigate: () => void }) {
  const session = useSession();
  const voiceStates = useStore((state) => state.voiceStates);
  const members = useStore((state) => state.members);
  const channels = useStore((state) => state.channels);
  const inCall = useStore((state) => state.call?.channelId === channel.id);
  const people = useMemo(() => voiceMembers({ voiceStates, members, channels }, channel.id), [voiceStates, members, channels, channel.id]);
  const name = channel.name ?? channel.id;
  return (
    <>
      <button
        type="button"
        className={`channel voice${inCall ? ' active' : ''}`}
        aria-label={`${name} (voice channel${people.length > 0 ? `, ${people.length} in it` : ''})`}
        onClick={() => {
          void session.joinVoice(channel.id);
          onNavigate();
        }}
      >
        <span className="channel-icon">
          <Icon name="speaker" size={18} />
        </span>
        <span className="channel-name">{name}</span>
      </button>
      {people.length > 0 && (
        <ul className="voice-channel-people" aria-label={`In ${name}`}>
          {people.map((person) => (
            <li key={person.id}>{person.name}</li>
          ))}
        </ul>
      )}
    </>
  );
}
