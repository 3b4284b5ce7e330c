import { useMemo, useState } from 'react';

import { describeError } from '../api/rest';
import { useSession, useStore } from '../state/hooks';
import { displayName, membersByPresence, type MemberRow } from '../state/selectors';
import { Avatar } from './Avatar';
import { Icon } from './Icon';

const STATUS_LABELS = { online: 'Online', idle: 'Idle', dnd: 'Do Not Disturb', offline: 'Offline' } as const;

export function MemberList({ guildId }: { guildId: string }) {
  const members = useStore((state) => state.members[guildId]);
  const presences = useStore((state) => state.presences);
  const { online, offline } = useMemo(() => membersByPresence(members, presences), [members, presences]);
  return (
    <aside className="members" aria-label="Members">
      <MemberSection title="Online" rows={online} />
      <MemberSection title="Offline" rows={offline} />
    </aside>
  );
}

function MemberSection({ title, rows }: { title: string; rows: MemberRow[] }) {
  const session = useSession();
  const meId = useStore((state) => state.me?.id);
  const [error, setError] = useState<string | null>(null);
  if (rows.length === 0) return null;
  return (
    <section aria-label={`${title} members`}>
      <h3 className="category">
        {title} — {rows.length}
      </h3>
      <ul role="list">
        {rows.map(({ member, status }) => {
          const name = displayName(member.user, member);
          return (
            <li key={member.user.id} className={`member${status === 'offline' ? ' offline' : ''}`} data-status={status}>
              <Avatar id={member.user.id} name={name} size={32} status={status} />
              <span className="member-name">{name}</span>
              <span className="visually-hidden">, {STATUS_LABELS[status]}</span>
              {member.user.id !== meId && member.user.bot !== true && (
                <button
                  type="button"
                  className="icon-button member-message"
                  aria-label={`Message ${name}`}
                  title={`Message ${name}`}
                  onClick={() => {
                    setError(null);
                    session.openDirect(member.user.id).catch((caught: unknown) => {
                      setError(describeError(caught));
                    });
                  }}
                >
                  <Icon name="home" size={16} />
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
