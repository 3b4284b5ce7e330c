// The home sidebar: the user's direct messages. A conversation starts from a
// member in a server's member list.

import { useMemo } from 'react';

import { navigate } from '../router';
import { useStore } from '../state/hooks';
import { directChannels, directName } from '../state/selectors';
import { Avatar } from './Avatar';
import { Badge } from './Badge';

export function DirectList({ activeChannelId, onNavigate }: { activeChannelId: string | null; onNavigate: () => void }) {
  const channels = useStore((state) => state.channels);
  const readStates = useStore((state) => state.readStates);
  const direct = useMemo(() => directChannels(channels), [channels]);
  return (
    <nav className="channels" aria-label="Direct messages">
      <header className="sidebar-header">
        <h2>Direct Messages</h2>
      </header>
      <div className="channel-scroll">
        {direct.length === 0 && <p className="muted direct-empty">No conversations yet. Message someone from a server’s member list.</p>}
        <ul role="list">
          {direct.map((channel) => {
            const name = directName(channel);
            const active = channel.id === activeChannelId;
            // Every message of the other person is addressed to the user.
            const count = readStates[channel.id]?.mentions ?? 0;
            return (
              <li key={channel.id}>
                <a
                  href={`/channels/@me/${channel.id}`}
                  className={`channel direct${active ? ' active' : ''}`}
                  aria-current={active ? 'page' : undefined}
                  aria-label={count === 0 ? name : `${name}, ${count} unread`}
                  onClick={(event) => {
                    event.preventDefault();
                    navigate({ name: 'dm', channelId: channel.id });
                    onNavigate();
                  }}
                >
                  <Avatar id={channel.recipients?.[0]?.id ?? channel.id} name={name} size={32} />
                  <span className="channel-name">{name}</span>
                  <Badge count={count} inline />
                </a>
              </li>
            );
          })}
        </ul>
      </div>
    </nav>
  );
}
