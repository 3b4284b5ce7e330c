import { useMemo, useState } from 'react';

import { ChannelType, type Channel, type Guild } from '../api/types';
import { navigate } from '../router';
import { useStore } from '../state/hooks';
import { channelGroups, firstTextChannel } from '../state/selectors';
import { InviteDialog } from './ServerDialogs';
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
  const [inviting, setInviting] = useState(false);
  const inviteChannel = activeChannelId ?? firstTextChannel(groups)?.id;

  return (
    <nav className="channels" aria-label={`${guild.name} channels`}>
      <header className="sidebar-header">
        <h2 title={guild.name}>{guild.name}</h2>
        {inviteChannel !== undefined && (
          <button type="button" className="icon-button" aria-label="Invite people" title="Invite people" onClick={() => { setInviting(true); }}>
            <Icon name="invite" />
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
      {inviting && inviteChannel !== undefined && <InviteDialog channelId={inviteChannel} onClose={() => { setInviting(false); }} />}
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
  const name = channel.name ?? channel.id;
  if (channel.type === ChannelType.GuildVoice) {
    // Voice comes with the SFU's UI; until then the channel is listed, not joinable.
    return (
      <span className="channel voice" aria-disabled="true" title="Voice channels are coming soon">
        <span className="channel-icon">
          <Icon name="speaker" size={18} />
        </span>
        <span className="channel-name">{name}</span>
        <span className="visually-hidden"> (voice, coming soon)</span>
      </span>
    );
  }
  return (
    <a
      href={`/channels/${guildId}/${channel.id}`}
      className={`channel${active ? ' active' : ''}`}
      aria-current={active ? 'page' : undefined}
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
    </a>
  );
}
