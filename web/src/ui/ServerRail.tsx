import { useState } from 'react';

import { navigate } from '../router';
import { useStore } from '../state/hooks';
import { CreateServerDialog, JoinServerDialog } from './ServerDialogs';
import { Icon } from './Icon';

export function ServerRail({ activeGuildId, onNavigate }: { activeGuildId: string | null; onNavigate: () => void }) {
  const guildIds = useStore((state) => state.guildIds);
  const guilds = useStore((state) => state.guilds);
  const [dialog, setDialog] = useState<'create' | 'join' | null>(null);

  return (
    <nav className="rail" aria-label="Servers">
      <ul className="rail-list">
        {guildIds.map((id) => {
          const name = guilds[id]?.name ?? 'Loading…';
          const active = id === activeGuildId;
          return (
            <li key={id}>
              <a
                href={`/channels/${id}`}
                className={`rail-icon${active ? ' active' : ''}`}
                aria-label={name}
                aria-current={active ? 'page' : undefined}
                title={name}
                onClick={(event) => {
                  event.preventDefault();
                  navigate({ name: 'guild', guildId: id, channelId: null });
                  onNavigate();
                }}
              >
                {initials(name)}
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

/** "Rust Lovers" → "RL": what a guild without an icon shows. */
function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 3)
    .map((word) => word[0]?.toUpperCase() ?? '')
    .join('');
}
