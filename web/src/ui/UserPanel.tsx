import { useId, useState } from 'react';

import type { ChosenStatus } from '../api/types';
import { useSession, useStore } from '../state/hooks';
import { displayName } from '../state/selectors';
import { Avatar } from './Avatar';
import { Icon } from './Icon';
import { SessionsDialog } from './SessionsDialog';

const STATUSES: { value: ChosenStatus; label: string }[] = [
  { value: 'online', label: 'Online' },
  { value: 'idle', label: 'Idle' },
  { value: 'dnd', label: 'Do Not Disturb' },
  { value: 'invisible', label: 'Invisible' },
];

export function UserPanel({ onSignOut }: { onSignOut: () => void }) {
  const session = useSession();
  const me = useStore((state) => state.me);
  const status = useStore((state) => state.myStatus);
  const muted = useStore((state) => state.muted);
  const deafened = useStore((state) => state.deafened);
  const selectId = useId();
  const [devices, setDevices] = useState(false);
  if (me === null) return <section className="user-panel" aria-label="You" />;
  const name = displayName(me);
  return (
    <section className="user-panel" aria-label="You">
      <Avatar id={me.id} name={name} size={32} status={status === 'invisible' ? 'offline' : status} />
      <div className="user-panel-text">
        <span className="user-panel-name" data-testid="me">{name}</span>
        <label htmlFor={selectId} className="visually-hidden">
          Status
        </label>
        <select
          id={selectId}
          className="status-select"
          value={status}
          onChange={(event) => { session.setStatus(event.target.value as ChosenStatus); }}
        >
          {STATUSES.map((option) => (
            <option key={option.value} value={option.value}>
              {option.label}
            </option>
          ))}
        </select>
      </div>
      <button
        type="button"
        className="icon-button"
        aria-pressed={muted || deafened}
        aria-label={muted || deafened ? 'Unmute' : 'Mute'}
        title={muted || deafened ? 'Unmute' : 'Mute'}
        onClick={() => { session.toggleMute(); }}
      >
        <Icon name={muted || deafened ? 'micOff' : 'mic'} size={18} />
      </button>
      <button
        type="button"
        className="icon-button"
        aria-pressed={deafened}
        aria-label={deafened ? 'Undeafen' : 'Deafen'}
        title={deafened ? 'Undeafen' : 'Deafen'}
        onClick={() => { session.toggleDeafen(); }}
      >
        <Icon name={deafened ? 'headphonesOff' : 'headphones'} size={18} />
      </button>
      <button type="button" className="icon-button" aria-label="Devices" title="Devices" onClick={() => { setDevices(true); }}>
        <Icon name="devices" size={18} />
      </button>
      <button type="button" className="icon-button" aria-label="Sign out" title="Sign out" onClick={onSignOut}>
        <Icon name="signOut" size={18} />
      </button>
      {devices && <SessionsDialog onClose={() => { setDevices(false); }} />}
    </section>
  );
}
