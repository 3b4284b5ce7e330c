import { useMemo, useState } from 'react';

import { guildIconUrl } from '../api/images';
import type { Guild } from '../api/types';
import { navigate } from '../router';
import { useStore } from '../state/hooks';
import { behind, mentionsByGuild } from '../state/readStates';
import { homeLabel, incomingRequests } from '../state/selectors';
import { unreadMessagesByGuild } from '../state/unread';
import { Badge } from './Badge';
import { CreateServerDialog, JoinServerDialog } from './ServerDialogs';
import { Icon } from './Icon';

export function ServerRail({ activeGuildId, onNavigate }: { activeGuildId: string | null; onNavigate: () => void }) {
  const guildIds = useStore((state) => state.guildIds);
  const guilds = useStore((state) => state.guilds);
  const [dialog, setDialog] = useState<'create' | 'join' | null>(null);
  const readStates = useStore((state) => state.readStates);
  const unreadMessages = useStore((state) => state.unread);
  const channels = useStore((state) => state.channels);
  const unread = useMemo(() => mentionsByGuild(readStates, channels), [readStates, channels]);
  const directUnread = unread['@me'] ?? 0;
  const relationships = useStore((state) => state.relationships);
  const requests = useMemo(() => incomingRequests(relationships), [relationships]);
  const messagesByGuild = useMemo(() => unreadMessagesByGuild(unreadMessages, channels), [unreadMessages, channels]);
  // Guilds with a channel read less far than its newest message (from before this
  // session too, by the server's read states).
  const guildsBehind = useMemo(
    () => new Set(Object.values(channels).filter((channel) => behind(readStates, channel)).map((channel) => channel.guild_id)),
    [readStates, channels],
  );

  return (
    <nav className="rail" aria-label="Servers">
      <a
        href="/channels/@me"
        className={`rail-icon home${activeGuildId === null ? ' active' : ''}`}
        aria-label={homeLabel(directUnread, requests)}
        aria-current={activeGuildId === null ? 'page' : undefined}
        title="Home and direct messages"
        onClick={(event) => {
          event.preventDefault();
          navigate({ name: 'home' });
          onNavigate();
        }}
      >
        <Icon name="home" size={24} />
        <Badge count={directUnread + requests} />
      </a>
      <ul className="rail-list">
        {guildIds.map((id) => {
          const name = guilds[id]?.name ?? 'Loading…';
          const active = id === activeGuildId;
          const mentions = unread[id] ?? 0;
          const news = messagesByGuild[id] ?? 0;
          // Mentions first: they are what the person is looking for.
          const label = [name, ...(mentions === 0 ? [] : [`${mentions} unread mentions`]), ...(news === 0 ? [] : [`${news} unread messages`])];
          return (
            <li key={id} className={news > 0 || guildsBehind.has(id) ? 'has-unread' : undefined}>
              <a
                href={`/channels/${id}`}
                className={`rail-icon${active ? ' active' : ''}`}
                aria-label={label.join(', ')}
                aria-current={active ? 'page' : undefined}
                title={name}
                onClick={(event) => {
                  event.preventDefault();
                  navigate({ name: 'guild', guildId: id, channelId: null });
                  onNavigate();
                }}
              >
                <GuildIcon guild={guilds[id]} name={name} />
                <Badge count={mentions} />
              </a>
            </li>
          );
        })}
      </ul>
      <div className="rail-actions">
        <button type="button" className="rail-icon action" aria-label="Create a server" title="Create a server" onClick={() => { setDialog('create'); }}>
          <Icon name="plus" size={24} />
        </button>
        <button type="button" className="rail-icon action" aria-label="Join a server" title="Join a server" onClick={() => { setDialog('join'); }}>
          <Icon name="join" size={22} />
        </button>
      </div>
      {dialog === 'create' && <CreateServerDialog onClose={() => { setDialog(null); }} />}
      {dialog === 'join' && <JoinServerDialog onClose={() => { setDialog(null); }} />}
    </nav>
  );
}

/** The guild's icon image, or its initials without one (or while it loads, or
 * when the image fails). Decorative: the link's label names the guild. */
function GuildIcon({ guild, name }: { guild: Guild | undefined; name: string }) {
  const url = guild === undefined ? null : guildIconUrl(guild);
  const [failed, setFailed] = useState<string | null>(null);
  if (url === null || failed === url) return <>{initials(name)}</>;
  return <img className="rail-image" src={url} alt="" onError={() => { setFailed(url); }} />;
}

/** "Rust Lovers" → "RL": what a guild without an icon shows. */
function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 3)
    .map((word) => word[0]?.toUpperCase() ?? '')
    .join('');
}
